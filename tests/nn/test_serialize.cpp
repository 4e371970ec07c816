#include <cstdio>

#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;

namespace {
struct Small : nn::Module {
  explicit Small(int64_t in, Generator& gen) {
    fc1 = &register_module("fc1", nn::Linear(in, 3, gen));
    fc2 = &register_module("fc2", nn::Linear(3, 2, gen));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(relu(fc1->forward(x))); }
  nn::Linear *fc1, *fc2;
};
}  // namespace

TEST_CASE("save then load restores every value in place") {
  Generator gen(1);
  Small a(4, gen), b(4, gen);
  const Tensor w = b.fc1->weight();
  const std::string path = "test_serialize_small.safetensors";
  nn::save(a, path, {{"model", "Small"}});
  CHECK(nn::load_tensors(path).metadata.at("model") == "Small");
  nn::load(b, path);
  CHECK(w.same(b.fc1->weight()));  // the same handle, new values
  for (size_t i = 0; i < 4; ++i)
    CHECK(a.named_parameters()[i].second.to_vector<double>() == b.named_parameters()[i].second.to_vector<double>());
  const Tensor x = ones({1, 4});
  CHECK(all_close(a.forward(x), b.forward(x), 0, 0));
  std::remove(path.c_str());
}

TEST_CASE("a PyTorch state_dict file loads into the equivalent module") {
  nn::Sequential net(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  net.to(DType::f64);
  const nn::TensorFile f = nn::load_tensors(std::string(ELBO_NN_FIXTURES) + "/torch_mlp.safetensors");
  nn::NamedTensors weights;
  for (auto& [n, t] : f.tensors)
    if (n.find("weight") == 2 || n.find("bias") == 2) weights.emplace_back(n, t);  // "0.weight" ... not "grad.*"
  REQUIRE(weights.size() == 4);
  nn::load_state(net, weights, "torch_mlp.safetensors");
  CHECK(net.named_parameters()[3].second.to_vector<double>() == weights[3].second.to_vector<double>());
}

TEST_CASE("load lists every difference and changes nothing when anything differs") {
  Generator gen(2);
  Small a(4, gen), other(5, gen);
  const std::string path = "test_serialize_mismatch.safetensors";
  nn::save(a, path);
  const std::vector<double> before = other.fc1->weight().to_vector<double>();
  const std::string bias_before = to_string(other.fc2->bias());
  CHECK_ERROR_HAS(nn::load(other, path),
                  "load test_serialize_mismatch.safetensors into Small: 1 problem: fc1.weight: shape [3, 4] in file, "
                  "[3, 5] in module");
  CHECK(other.fc1->weight().to_vector<double>() == before);
  CHECK(to_string(other.fc2->bias()) == bias_before);  // untouched though it matched

  nn::save_tensors(path, {{"fc1.weight", zeros({3, 4})}, {"fc1.bias", zeros({3}, DType::f64)},
                          {"fc2.weight", zeros({2, 3})}, {"extra", zeros({1})}});
  Small c(4, gen);
  CHECK_ERROR_HAS(nn::load(c, path),
                  "3 problems: fc1.bias: dtype f64 in file, f32 in module; missing key 'fc2.bias' (module has f32 [2]); "
                  "unexpected key 'extra' (f32 [1])");
  std::remove(path.c_str());
  CHECK_ERROR_HAS(nn::load(c, path), "test_serialize_mismatch.safetensors: cannot open");
}
