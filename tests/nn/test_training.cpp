// A small model end to end: an MLP learns the two-moons classification to near-perfect accuracy.
#include <cmath>
#include <numbers>

#include "test_util.h"

using namespace elbo;

namespace {

// n points per class on two interleaved half circles, with Gaussian noise of std 0.1.
std::pair<Tensor, Tensor> two_moons(int64_t n, Generator& gen) {
  std::vector<double> xy, label;
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < n; ++i) {
      const double t = std::numbers::pi * gen.uniform();
      const double x = c == 0 ? std::cos(t) : 1 - std::cos(t), y = c == 0 ? std::sin(t) : 0.5 - std::sin(t);
      xy.push_back(x + 0.1 * gen.normal());
      xy.push_back(y + 0.1 * gen.normal());
      label.push_back(double(c));
    }
  return {tensor(xy, {2 * n, 2}), tensor(label, {2 * n, 1}, DType::i64)};
}

double accuracy(const nn::Sequential& net, const Tensor& x, const Tensor& y) {
  NoGradGuard guard;
  const auto pred = argmax(net.forward(x), 1).to_vector<int64_t>(), truth = y.to_vector<int64_t>();
  int64_t right = 0;
  for (size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
  return double(right) / double(pred.size());
}

}  // namespace

TEST_CASE("an MLP learns two moons to near-perfect accuracy") {
  Generator gen(1);
  auto [x, y] = two_moons(200, gen);
  auto [xt, yt] = two_moons(200, gen);
  nn::Sequential net(nn::Linear(2, 32, gen), nn::Tanh(), nn::Linear(32, 32, gen), nn::ReLU(), nn::Linear(32, 2, gen));
  optim::Adam opt(net.parameters(), {.lr = 0.01});
  const double before = accuracy(net, xt, yt);
  for (int step = 0; step < 400; ++step) {
    opt.zero_grad();
    const Tensor nll = -mean(gather(log_softmax(net.forward(x), 1), 1, y));  // cross-entropy
    nll.backward();
    opt.step();
  }
  const double after = accuracy(net, xt, yt);
  INFO("held-out accuracy ", before, " -> ", after);
  CHECK(after >= 0.97);
  CHECK(before < 0.9);
}
