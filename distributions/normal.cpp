// Normal: the formulas are torch.distributions.Normal's, written with elbo ops (erf and erfinv among them)
// so every gradient comes from the tape.
#include "distributions/normal.h"

#include <cmath>
#include <numbers>

namespace elbo::dist {

namespace {
constexpr const char* kName = "Normal";
constexpr double kSqrt2 = std::numbers::sqrt2;

}  // namespace

Normal::Normal(Tensor loc, Tensor scale) {
  check_floating(kName, "loc", loc);
  check_floating(kName, "scale", scale);
  check_broadcast(kName, "loc", loc.shape(), "scale", scale.shape());
  validate(kName, "loc", loc, Constraint::real);  // before broadcasting: the message shows the user's shape
  validate(kName, "scale", scale, Constraint::positive);
  const DType d = common_dtype(loc, scale);
  loc_ = loc.to(d);
  scale_ = scale.to(d);
  if (loc.shape() != scale.shape()) {
    const detail::Dims batch = broadcast_dims(kName, "loc", loc.shape(), "scale", scale.shape());
    loc_ = expand_to(loc_, batch);
    scale_ = expand_to(scale_, batch);
  }
}

Tensor Normal::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

Tensor Normal::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor eps = sample_shape.empty() ? randn(batch_shape(), gen, dtype())
                                          : randn(extended_dims(sample_shape, batch_shape()), gen, dtype());
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
