// Normal: the formulas are torch.distributions.Normal's, written with elbo ops so every gradient comes
// from the tape. erf and erfinv are elementwise primitives with their derivatives beside them.
#include "distributions/normal.h"

#include <cmath>
#include <numbers>

namespace elbo::dist {

namespace {
constexpr const char* kName = "Normal";
constexpr double kSqrt2 = std::numbers::sqrt2;
constexpr double kTwoOverSqrtPi = std::numbers::inv_sqrtpi * 2;

// erfinv(y) for |y| < 1: Winitzki's closed-form guess (relative error ~1e-3), polished by Halley steps on
// f(x) = erf(x) - y. For |y| > 1/2 the residual is taken as (1 - y) - erfc(x) instead: 1 - y is exact
// there (Sterbenz) and erfc keeps its relative accuracy, so the result resolves y to the last bit.
double erfinv_scalar(double y) {
  if (std::isnan(y) || y < -1 || y > 1) return std::nan("");
  if (y == 1 || y == -1) return std::copysign(INFINITY, y);
  if (y == 0) return y;
  const double a = std::abs(y);
  double x;
  if (a < 1e-3) {
    x = std::sqrt(std::numbers::pi) / 2 * (a + std::numbers::pi / 12 * a * a * a);  // Taylor series
  } else {
    constexpr double k = 0.147;
    const double l = std::log1p(-a * a), t = 2 / (std::numbers::pi * k) + l / 2;
    x = std::sqrt(std::sqrt(t * t - l / k) - t);
  }
  for (int i = 0; i < 8; ++i) {
    const double f = a > 0.5 ? (1 - a) - std::erfc(x) : std::erf(x) - a;
    const double r = f / (kTwoOverSqrtPi * std::exp(-x * x));  // f / f'
    const double step = r / (1 + x * r);                        // Halley: f''/f' = -2x
    x -= step;
    if (std::abs(step) <= 1e-17 * x) break;
  }
  return std::copysign(x, y);
}

template <class F> Tensor map_float(const char* op, const Tensor& x, F f) {
  Tensor y = empty(x.shape(), x.dtype());
  with_float(x.dtype(), op, [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<const T>();
    T* py = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) py[i] = T(f(double(px[i])));
  });
  return y;
}
}  // namespace

Tensor erf(const Tensor& x) {
  Tensor y = map_float("erf", x, [](double v) { return std::erf(v); });
  return record("erf", y, {x}, [x = x.detach()](const Tensor& gy) {
    return Grads{gy * (kTwoOverSqrtPi * exp(-square(x)))};  // d erf(x) = 2/sqrt(pi) e^{-x^2}
  });
}

Tensor erfinv(const Tensor& x) {
  Tensor y = map_float("erfinv", x, erfinv_scalar);
  return record("erfinv", y, {x}, [y = y.detach()](const Tensor& gy) {
    // y = erfinv(x) <=> x = erf(y), so dy/dx = 1 / erf'(y) = sqrt(pi)/2 e^{y^2}
    return Grads{gy * ((1 / kTwoOverSqrtPi) * exp(square(y)))};
  });
}

Normal::Normal(Tensor loc, Tensor scale) {
  check_floating(kName, "loc", loc);
  check_floating(kName, "scale", scale);
  const Shape batch = broadcast_shape(kName, "loc", loc.shape(), "scale", scale.shape());
  validate(kName, "loc", loc, Constraint::real);  // before broadcasting: the message shows the user's shape
  validate(kName, "scale", scale, Constraint::positive);
  const DType d = common_dtype(loc, scale);
  loc_ = expand_to(loc.to(d), batch);
  scale_ = expand_to(scale.to(d), batch);
}

Tensor Normal::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

Tensor Normal::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor eps = randn(extended_shape(sample_shape, batch_shape()), gen, dtype());
  return loc_ + eps * scale_;
}

// log N(x; m, s) = -(x - m)^2 / (2 s^2) - log s - log sqrt(2 pi)
Tensor Normal::log_prob(const Tensor& value) const {
  check_floating(kName, "value", value);
  check_value_shape(kName, value, batch_shape());
  validate(kName, "value", value, Constraint::real);
  const Tensor var = square(scale_);
  return -square(value - loc_) / (2.0 * var) - log(scale_) - std::log(std::sqrt(2 * std::numbers::pi));
}

// H = 1/2 + 1/2 log(2 pi) + log s
Tensor Normal::entropy() const { return 0.5 + 0.5 * std::log(2 * std::numbers::pi) + log(scale_); }

Tensor Normal::variance() const { return square(scale_); }

// Phi((x - m) / s) = (1 + erf((x - m) / (s sqrt 2))) / 2
Tensor Normal::cdf(const Tensor& value) const {
  check_floating(kName, "value", value);
  check_value_shape(kName, value, batch_shape());
  validate(kName, "value", value, Constraint::real);
  return 0.5 * (1.0 + erf((value - loc_) * (1.0 / scale_) / kSqrt2));
}

// Phi^{-1}(p) = m + s sqrt(2) erfinv(2p - 1)
Tensor Normal::icdf(const Tensor& p) const {
  check_floating(kName, "p", p);
  check_value_shape(kName, p, batch_shape());
  validate(kName, "p", p, Constraint::unit_interval);
  return loc_ + scale_ * erfinv(2.0 * p - 1.0) * kSqrt2;
}

}  // namespace elbo::dist
