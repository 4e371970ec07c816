#include "nn/serialize.h"

#include "autograd/error.h"
#include "autograd/tape.h"

namespace elbo::nn {

void save(const Module& module, const std::string& path, const std::map<std::string, std::string>& metadata) {
  NamedTensors state;
  for (auto& [n, t] : module.state_dict()) state.emplace_back(n, t.detach());
  save_tensors(path, state, metadata);
}

void load(Module& module, const std::string& path) { load_state(module, load_tensors(path).tensors, path); }

void load_state(Module& module, const NamedTensors& tensors, const std::string& source) {
  const NamedTensors state = module.state_dict();
  std::vector<std::string> problems;
  auto find = [](const NamedTensors& v, const std::string& key) -> const Tensor* {
    for (auto& [n, t] : v)
      if (n == key) return &t;
    return nullptr;
  };
  for (auto& [n, t] : state) {
    const Tensor* f = find(tensors, n);
    if (!f) {
      problems.push_back(fmt::format("missing key '{}' (module has {} {})", n, t.dtype(), t.shape()));
    } else if (f->shape() != t.shape()) {
      problems.push_back(fmt::format("{}: shape {} in file, {} in module", n, f->shape(), t.shape()));
    } else if (f->dtype() != t.dtype()) {
      problems.push_back(fmt::format("{}: dtype {} in file, {} in module", n, f->dtype(), t.dtype()));
    }
  }
  for (auto& [n, t] : tensors)
    if (!find(state, n)) problems.push_back(fmt::format("unexpected key '{}' ({} {})", n, t.dtype(), t.shape()));
  if (!problems.empty())
    throw Error(fmt::format("load {} into {}: {} problem{}: {}", source, module.type_name(), problems.size(),
                            problems.size() == 1 ? "" : "s", fmt::join(problems, "; ")));
  NoGradGuard guard;
  for (auto& [n, t] : state) t.copy_(*find(tensors, n));
}

}  // namespace elbo::nn
