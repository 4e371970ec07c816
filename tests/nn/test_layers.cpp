#include <cmath>

#include "check_module.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::fixture_tensor;
using elbo::testing::check_module;
using elbo::testing::uniform;

namespace {


// Loads a torch fixture's weights into `net` (f64) and compares forward and parameter gradients.
template <class M> void check_against_torch(M& net, const std::string& file) {
  const nn::TensorFile f = nn::load_tensors(std::string(ELBO_NN_FIXTURES) + "/" + file);
  net.to(DType::f64);
  nn::NamedTensors weights;
  for (auto& [n, _] : net.state_dict()) weights.emplace_back(n, fixture_tensor(f, n));
  nn::load_state(net, weights, file);
  const Tensor y = net.forward(fixture_tensor(f, "input"));
  CHECK(all_close(y, fixture_tensor(f, "output"), 1e-12, 1e-12));
  sum(y * fixture_tensor(f, "r")).backward();
  for (auto& [n, p] : net.named_parameters()) {
    INFO(n);
    CHECK(all_close(p.grad(), fixture_tensor(f, "grad." + n), 1e-12, 1e-12));
  }
}

}  // namespace

TEST_CASE("Linear: shapes, values, default init bounds as torch") {
  Generator gen(1);
  nn::Linear lin(784, 400, gen);
  CHECK(lin.weight().shape() == Shape{400, 784});
  CHECK(lin.bias().shape() == Shape{400});
  const double bound = 1 / std::sqrt(784.0);
  auto w = lin.weight().to_vector<double>(), b = lin.bias().to_vector<double>();
  double lo = 1, hi = -1, sq = 0;
  for (double v : w) lo = std::min(lo, v), hi = std::max(hi, v), sq += v * v;
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(lo < -0.99 * bound);  // the full range is used
  CHECK(hi > 0.99 * bound);
  // U(-b, b) has variance b^2 / 3; 313,600 draws pin it to well under 1%
  CHECK(sq / double(w.size()) == doctest::Approx(bound * bound / 3).epsilon(0.01));
  for (double v : b) CHECK(std::abs(v) <= bound);
  CHECK(lin.forward(ones({2, 3, 784})).shape() == Shape{2, 3, 400});
  nn::Linear nobias(3, 2, false, gen);
  CHECK_FALSE(nobias.bias().defined());
  CHECK(nobias.named_parameters().size() == 1);
  CHECK_ERROR_HAS(nn::Linear(0, 2), "Linear: in_features 0 and out_features 2 must be positive");
  CHECK_ERROR_HAS(lin.forward(ones({2, 3})), "linear: input [2, 3] does not end in in_features = 784");
}

TEST_CASE("Linear and Sequential match a PyTorch module loaded from its state_dict") {
  nn::Sequential net(nn::Linear(4, 3), nn::ReLU(), nn::Linear(3, 2));
  check_against_torch(net, "torch_mlp.safetensors");
}

TEST_CASE("the same seed gives the same initialization; different seeds differ") {
  Generator g1(5), g2(5), g3(6);
  nn::Linear a(10, 4, g1), b(10, 4, g2), c(10, 4, g3);
  CHECK(a.weight().to_vector<double>() == b.weight().to_vector<double>());
  CHECK(a.weight().to_vector<double>() != c.weight().to_vector<double>());
  nn::manual_seed(9);
  nn::Linear d(3, 3);
  nn::manual_seed(9);
  nn::Linear e(3, 3);
  CHECK(d.weight().to_vector<double>() == e.weight().to_vector<double>());
}

TEST_CASE("parameter gradients of layers and stacks against finite differences") {
  Generator gen(2);
  {
    nn::Linear lin(5, 3, gen);
    CHECK(check_module(lin, uniform({4, 5}, gen, -1, 1), gen) == "");
  }
  {
    nn::Sequential mlp(nn::Linear(4, 6, gen), nn::Tanh(), nn::Linear(6, 5, gen), nn::Softplus(), nn::Linear(5, 3, gen),
                       nn::Sigmoid(), nn::Linear(3, 2, gen), nn::ELU(0.7), nn::Linear(2, 2, gen), nn::LeakyReLU(0.2));
    CHECK(check_module(mlp, uniform({3, 4}, gen, -1, 1), gen) == "");
  }
}

TEST_CASE("activation layers compute their ops") {
  const Tensor x = tensor({-2, -0.5, 0.5, 2}, {4}, DType::f64);
  CHECK(nn::ReLU().forward(x).to_vector<double>() == std::vector<double>{0, 0, 0.5, 2});
  CHECK(nn::LeakyReLU(0.1).forward(x).to_vector<double>() == std::vector<double>{-0.2, -0.05, 0.5, 2});
  CHECK(all_close(nn::ELU().forward(x), tensor({std::expm1(-2.0), std::expm1(-0.5), 0.5, 2}, {4}, DType::f64)));
  CHECK(all_close(nn::Tanh().forward(x), tanh(x)));
  CHECK(all_close(nn::Sigmoid().forward(x), sigmoid(x)));
  CHECK(all_close(nn::Softplus().forward(x), log1p(exp(x))));
  CHECK(nn::LeakyReLU(0.1).repr() == "LeakyReLU(negative_slope=0.1)");
}

TEST_CASE("Flatten and Unflatten as torch.nn") {
  const Tensor x = ones({2, 64, 7, 7});
  CHECK(nn::Flatten().forward(x).shape() == Shape{2, 3136});
  CHECK(nn::Flatten(0).forward(x).shape() == Shape{6272});
  CHECK(nn::Flatten(2, 3).forward(x).shape() == Shape{2, 64, 49});
  CHECK(nn::Unflatten(1, {64, 7, 7}).forward(ones({2, 3136})).shape() == Shape{2, 64, 7, 7});
  CHECK(nn::Unflatten(-1, {2, 3}).forward(ones({4, 6})).shape() == Shape{4, 2, 3});
  CHECK_ERROR_HAS(nn::Unflatten(1, {64, 7, 7}).forward(ones({2, 3000})),
                  "Unflatten: dim 1 of input [2, 3000] has size 3000, but sizes [64, 7, 7] multiply to 3136");
  CHECK_ERROR_HAS(nn::Unflatten(3, {1}).forward(ones({2, 3})), "Unflatten: dim 3 out of range for input [2, 3]");
  CHECK_ERROR_HAS(nn::Unflatten(1, {}), "Unflatten: sizes must not be empty");
}

TEST_CASE("Dropout: scaled mask in training, identity in eval, gradient through the mask") {
  Generator gen(3);
  nn::Dropout drop(0.25, gen);
  Tensor x = ones({100000}, DType::f64).requires_grad_(true);
  const Tensor y = drop.forward(x);
  const auto v = y.to_vector<double>();
  int64_t kept = 0;
  for (double a : v) {
    CHECK((a == 0 || std::abs(a - 1 / 0.75) < 1e-12));
    kept += a != 0;
  }
  // Binomial(1e5, 0.75): standard error 137
  CHECK(std::abs(double(kept) - 75000) < 5 * 137);
  sum(y).backward();
  CHECK(x.grad().to_vector<double>() == v);  // d y / d x = mask / (1 - p)
  drop.eval();
  CHECK(drop.forward(x).same(x));
  CHECK_ERROR_HAS(nn::Dropout(1.5), "Dropout: p must be in [0, 1], got 1.5");
  nn::Dropout all(1.0, gen);
  CHECK(sum(all.forward(ones({10}))).item() == 0);
}

TEST_CASE("Sequential: children named 0, 1, ...; push_back; forward in order") {
  Generator gen(4);
  nn::Sequential s;
  auto& first = s.push_back(nn::Linear(2, 2, gen));
  s.push_back(nn::ReLU());
  CHECK(s.size() == 2);
  CHECK(first.weight().same(s.named_parameters()[0].second));
  CHECK(s.named_parameters()[0].first == "0.weight");
  const Tensor x = tensor({1, -1}, {1, 2});
  CHECK(all_close(s.forward(x), relu(first.forward(x))));
  nn::Sequential empty_seq;
  CHECK(empty_seq.forward(x).same(x));
}

TEST_CASE("Conv2d and ConvTranspose2d match a PyTorch module loaded from its state_dict") {
  nn::Sequential net(nn::Conv2d(2, 3, 3, 2, 1), nn::ReLU(), nn::ConvTranspose2d(3, 2, 4, 2, 1));
  check_against_torch(net, "torch_conv.safetensors");
}

TEST_CASE("conv layers: parameter gradients against finite differences") {
  Generator gen(5);
  nn::Sequential net(nn::Conv2d(2, 3, 3, 2, 1, true, gen), nn::Tanh(), nn::ConvTranspose2d(3, 2, 4, 2, 1, 1, true, gen));
  CHECK(check_module(net, uniform({2, 2, 5, 6}, gen, -1, 1), gen) == "");
  nn::Conv2d nobias(1, 2, 2, 1, 0, false, gen);
  CHECK(nobias.named_parameters().size() == 1);
  CHECK(check_module(nobias, uniform({1, 1, 3, 3}, gen, -1, 1), gen) == "");
}

TEST_CASE("layer outputs against hand-computed values") {
  NoGradGuard guard;
  nn::Linear lin(2, 1);
  lin.weight().copy_(tensor({1, 2}, {1, 2}));
  lin.bias().copy_(tensor({3}, {1}));
  CHECK(lin.forward(tensor({1, 1, 2, -1}, {2, 2})).to_vector<double>() == std::vector<double>{6, 3});
  nn::Conv2d conv(1, 1, 2);  // a 2x2 box sum over 1..9
  nn::init::ones_(conv.weight());
  nn::init::zeros_(conv.bias());
  CHECK(conv.forward(tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3})).to_vector<double>() ==
        std::vector<double>{12, 16, 24, 28});
  nn::ConvTranspose2d up(1, 1, 2, 2);  // stride 2, 2x2 ones: each input becomes a 2x2 block
  nn::init::ones_(up.weight());
  nn::init::constant_(up.bias(), 0.5);
  CHECK(up.forward(tensor({1, 2, 3, 4}, {1, 1, 2, 2})).to_vector<double>() ==
        std::vector<double>{1.5, 1.5, 2.5, 2.5, 1.5, 1.5, 2.5, 2.5, 3.5, 3.5, 4.5, 4.5, 3.5, 3.5, 4.5, 4.5});
}
