#include <cmath>

#include "test_util.h"

using namespace elbo;
namespace init = elbo::nn::init;

namespace {
double sample_std(const Tensor& t) {
  const auto v = t.to_vector<double>();
  double m = 0, s = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}
double max_abs(const Tensor& t) {
  double m = 0;
  for (double x : t.to_vector<double>()) m = std::max(m, std::abs(x));
  return m;
}
}  // namespace

TEST_CASE("fans follow torch: dim 1 times the receptive field is fan_in") {
  CHECK(init::fan_in_and_fan_out({400, 784}) == std::pair<int64_t, int64_t>{784, 400});
  CHECK(init::fan_in_and_fan_out({32, 1, 4, 4}) == std::pair<int64_t, int64_t>{16, 512});
  CHECK(init::fan_in_and_fan_out({64, 32, 4, 4}) == std::pair<int64_t, int64_t>{512, 1024});  // ConvTranspose2d
  CHECK_ERROR_HAS(init::fan_in_and_fan_out({5}), "at least 2 dims, got [5]");
}

TEST_CASE("gains as torch.nn.init.calculate_gain") {
  CHECK(init::calculate_gain("linear") == 1);
  CHECK(init::calculate_gain("conv2d") == 1);
  CHECK(init::calculate_gain("sigmoid") == 1);
  CHECK(init::calculate_gain("tanh") == doctest::Approx(5.0 / 3));
  CHECK(init::calculate_gain("relu") == doctest::Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain("leaky_relu", std::sqrt(5.0)) == doctest::Approx(std::sqrt(1.0 / 3)));
  CHECK(init::calculate_gain("selu") == 0.75);
  CHECK_ERROR_HAS(init::calculate_gain("swish"), "unknown nonlinearity 'swish'");
}

TEST_CASE("xavier and kaiming: bounds and standard deviations") {
  Generator gen(1);
  Tensor w = empty({300, 500}, DType::f64);
  init::xavier_uniform_(w, gen);
  const double xb = std::sqrt(6.0 / 800);
  CHECK(max_abs(w) <= xb);
  CHECK(sample_std(w) == doctest::Approx(xb / std::sqrt(3.0)).epsilon(0.01));
  init::xavier_normal_(w, gen, 2.0);
  CHECK(sample_std(w) == doctest::Approx(2 * std::sqrt(2.0 / 800)).epsilon(0.01));
  init::kaiming_uniform_(w, gen, 0, init::FanMode::fan_in, "relu");
  CHECK(max_abs(w) <= std::sqrt(2.0) * std::sqrt(3.0 / 500));
  CHECK(sample_std(w) == doctest::Approx(std::sqrt(2.0 / 500)).epsilon(0.01));
  init::kaiming_normal_(w, gen, 0, init::FanMode::fan_out, "relu");
  CHECK(sample_std(w) == doctest::Approx(std::sqrt(2.0 / 300)).epsilon(0.01));
  // torch's Linear default: a = sqrt(5) gives bound 1 / sqrt(fan_in)
  init::kaiming_uniform_(w, gen, std::sqrt(5.0));
  CHECK(max_abs(w) <= 1 / std::sqrt(500.0));
  CHECK(max_abs(w) > 0.99 / std::sqrt(500.0));
}

TEST_CASE("uniform_, normal_, constant_, zeros_, ones_ fill in place without recording") {
  Generator gen(2);
  Tensor p = zeros({1000}).requires_grad_(true);
  const Tensor same = p;
  init::uniform_(p, 2, 3, gen);
  for (double v : same.to_vector<double>()) CHECK((v >= 2 && v < 3));
  CHECK(p.is_leaf());
  init::normal_(p, 5, 0.5, gen);
  CHECK(sample_std(p) == doctest::Approx(0.5).epsilon(0.1));
  init::constant_(p, 1.5);
  CHECK(sum(p).item() == 1500);
  init::zeros_(p);
  CHECK(sum(p).item() == 0);
  init::ones_(p);
  CHECK(sum(p).item() == 1000);
  CHECK_ERROR_HAS(init::uniform_(p, 3, 2, gen), "init::uniform_: lo 3 > hi 2");
  CHECK_ERROR_HAS(init::normal_(p, 0, -1, gen), "init::normal_: std must be >= 0, got -1");
  CHECK_ERROR_HAS(init::zeros_(zeros({2}, DType::i64)), "init::constant_: needs a defined f32/f64 tensor");
}

TEST_CASE("conv layers: parameter shapes and default bounds as PyTorch's reset_parameters") {
  Generator gen(3);
  nn::Conv2d c(32, 64, 4, 2, 1, true, gen);
  CHECK(c.weight().shape() == Shape{64, 32, 4, 4});
  CHECK(max_abs(c.weight()) <= 1 / std::sqrt(512.0));
  CHECK(max_abs(c.bias()) <= 1 / std::sqrt(512.0));
  nn::ConvTranspose2d t(64, 32, 4, 2, 1, 0, true, gen);
  CHECK(t.weight().shape() == Shape{64, 32, 4, 4});
  CHECK(t.bias().shape() == Shape{32});
  CHECK(max_abs(t.weight()) <= 1 / std::sqrt(512.0));  // fan_in = 32 * 16, from dim 1
  CHECK(max_abs(t.weight()) > 0.99 / std::sqrt(512.0));
  CHECK_ERROR_HAS(nn::Conv2d(1, 2, 3, 0), "Conv2d: stride 0 must be >= 1 and padding 0 >= 0");
  CHECK_ERROR_HAS(nn::ConvTranspose2d(1, 2, 3, 2, 0, 2), "output_padding 2 must be >= 0 and smaller than stride 2");
}
