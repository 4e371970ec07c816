#include "training/checkpoint.h"

#include <bit>

namespace elbo::training {

nn::NamedTensors generator_state(const Generator& gen) {
  const Generator::State st = gen.state();
  Tensor words = empty({4}, DType::i64);
  for (size_t i = 0; i < 4; ++i) words.data<int64_t>()[i] = std::bit_cast<int64_t>(st.s[i]);
  return {{"rng.state", words}, {"rng.normal", tensor({st.cached_normal, st.has_cached ? 1.0 : 0.0}, {2}, DType::f64)}};
}

void load_generator_state(Generator& gen, const std::map<std::string, Tensor>& tensors, const std::string& file) {
  const auto words = tensors.find("rng.state"), normal = tensors.find("rng.normal");
  if (words == tensors.end() || normal == tensors.end())
    throw IOError(fmt::format("{}: the checkpoint has no generator state (rng.state, rng.normal)", file));
  if (words->second.dtype() != DType::i64 || words->second.shape() != Shape{4} ||
      normal->second.dtype() != DType::f64 || normal->second.shape() != Shape{2})
    throw IOError(fmt::format("{}: the generator state is {} {} and {} {}, expected i64 [4] and f64 [2]", file,
                              words->second.dtype(), words->second.shape(), normal->second.dtype(),
                              normal->second.shape()));
  Generator::State st{};
  for (size_t i = 0; i < 4; ++i) st.s[i] = std::bit_cast<uint64_t>(words->second.data<const int64_t>()[i]);
  const std::vector<double> n = normal->second.to_vector<double>();
  st.cached_normal = n[0];
  st.has_cached = n[1] != 0;
  gen.set_state(st);
}

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer& opt,
                     const Generator& gen, int64_t epoch, const nn::NamedTensors& task_state,
                     const std::string& description) {
  nn::NamedTensors all;
  for (auto& [name, t] : model.state_dict()) all.emplace_back("model." + name, t);
  for (auto& [name, t] : opt.state_dict()) all.emplace_back("optim." + name, t);
  for (auto& [name, t] : task_state) all.emplace_back("task." + name, t);
  for (auto& [name, t] : generator_state(gen)) all.emplace_back(name, t);
  all.emplace_back("epoch", tensor({double(epoch)}, {1}, DType::i64));
  nn::save_tensors(path, all, {{"model", description}});
}

int64_t load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer& opt, Generator& gen,
                        std::map<std::string, Tensor>& task_state) {
  const nn::TensorFile f = nn::load_tensors(path);
  nn::NamedTensors weights, optim;
  std::map<std::string, Tensor> rest;
  for (const auto& [name, t] : f.tensors) {
    if (name.rfind("model.", 0) == 0) weights.emplace_back(name.substr(6), t);
    else if (name.rfind("optim.", 0) == 0) optim.emplace_back(name.substr(6), t);
    else if (name.rfind("task.", 0) == 0) task_state.emplace(name.substr(5), t);
    else rest.emplace(name, t);
  }
  if (f.metadata.count("rng") && !rest.count("rng.state"))
    throw IOError(fmt::format("{}: a checkpoint of an earlier elbo (its generator state is text in the metadata); "
                              "it cannot be resumed, but --load reads its model", path));
  const auto epoch = rest.find("epoch");
  if (epoch == rest.end() || epoch->second.dtype() != DType::i64 || epoch->second.numel() != 1 ||
      epoch->second.to_vector<int64_t>()[0] < 0)
    throw IOError(fmt::format("{}: the checkpoint has no epoch count (an i64 'epoch' >= 0)", path));
  Generator restored = gen;
  load_generator_state(restored, rest, path);  // checked before the model and optimizer change
  nn::load_state(model, weights, path);
  try {
    opt.load_state_dict(optim);
  } catch (const Error& e) {
    throw IOError(fmt::format("{}: the optimizer state: {}", path, e.what()));
  }
  gen = restored;
  return epoch->second.to_vector<int64_t>()[0];
}

}  // namespace elbo::training
