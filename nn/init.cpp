#include "nn/init.h"

#include <cmath>

#include "autograd/error.h"
#include "autograd/ops.h"

namespace elbo::nn {

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}
void manual_seed(uint64_t seed) { default_generator() = Generator(seed); }

namespace init {
namespace {

void check_float(const char* op, const Tensor& t) {
  ELBO_CHECK(t.defined() && is_floating(t.dtype()), "init::{}: needs a defined f32/f64 tensor", op);
}

// Writes `values` (f64) into t in place without recording.
Tensor fill_from(const Tensor& t, const Tensor& values) {
  NoGradGuard guard;
  t.copy_(values);
  return t;
}

}  // namespace

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Shape& s) {
  ELBO_CHECK(s.size() >= 2, "init: fan in and fan out need a tensor with at least 2 dims, got {}", s);
  int64_t receptive = 1;
  for (size_t i = 2; i < s.size(); ++i) receptive *= s[i];
  return {s[1] * receptive, s[0] * receptive};
}

double calculate_gain(std::string_view nl, double param) {
  if (nl == "linear" || nl == "sigmoid" || nl.starts_with("conv")) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 0.75;
  throw Error(fmt::format("init::calculate_gain: unknown nonlinearity '{}' (linear, conv*, sigmoid, tanh, relu, "
                          "leaky_relu, selu)", nl));
}

Tensor uniform_(const Tensor& t, double lo, double hi, Generator& gen) {
  check_float("uniform_", t);
  ELBO_CHECK(lo <= hi, "init::uniform_: lo {} > hi {}", lo, hi);
  return fill_from(t, rand(t.shape(), gen, DType::f64) * (hi - lo) + lo);
}

Tensor normal_(const Tensor& t, double mean, double std, Generator& gen) {
  check_float("normal_", t);
  ELBO_CHECK(std >= 0, "init::normal_: std must be >= 0, got {}", std);
  return fill_from(t, randn(t.shape(), gen, DType::f64) * std + mean);
}

Tensor constant_(const Tensor& t, double value) {
  check_float("constant_", t);
  return fill_from(t, full(t.shape(), value, DType::f64));
}
Tensor zeros_(const Tensor& t) { return constant_(t, 0.0); }
Tensor ones_(const Tensor& t) { return constant_(t, 1.0); }

Tensor xavier_uniform_(const Tensor& t, Generator& gen, double gain) {
  check_float("xavier_uniform_", t);
  auto [fi, fo] = fan_in_and_fan_out(t.shape());
  const double b = gain * std::sqrt(6.0 / double(fi + fo));
  return uniform_(t, -b, b, gen);
}

Tensor xavier_normal_(const Tensor& t, Generator& gen, double gain) {
  check_float("xavier_normal_", t);
  auto [fi, fo] = fan_in_and_fan_out(t.shape());
  return normal_(t, 0.0, gain * std::sqrt(2.0 / double(fi + fo)), gen);
}

namespace {
double kaiming_std(const char* op, const Tensor& t, double a, FanMode mode, std::string_view nl) {
  check_float(op, t);
  auto [fi, fo] = fan_in_and_fan_out(t.shape());
  const int64_t fan = mode == FanMode::fan_in ? fi : fo;
  ELBO_CHECK(fan > 0, "init::{}: zero fan for shape {}", op, t.shape());
  return calculate_gain(nl, a) / std::sqrt(double(fan));
}
}  // namespace

Tensor kaiming_uniform_(const Tensor& t, Generator& gen, double a, FanMode mode, std::string_view nl) {
  const double b = std::sqrt(3.0) * kaiming_std("kaiming_uniform_", t, a, mode, nl);
  return uniform_(t, -b, b, gen);
}

Tensor kaiming_normal_(const Tensor& t, Generator& gen, double a, FanMode mode, std::string_view nl) {
  return normal_(t, 0.0, kaiming_std("kaiming_normal_", t, a, mode, nl), gen);
}

}  // namespace init
}  // namespace elbo::nn
