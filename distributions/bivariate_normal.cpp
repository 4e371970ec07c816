#include "distributions/bivariate_normal.h"

#include <cmath>
#include <numbers>

namespace elbo::dist {
namespace {
constexpr const char* kName = "BivariateNormal";
}

BivariateNormal::BivariateNormal(Tensor loc, Tensor scale, Tensor corr) {
  check_floating(kName, "loc", loc);
  check_floating(kName, "scale", scale);
  check_floating(kName, "corr", corr);
  bool fits = loc.dim() >= 1 && loc.shape().back() == 2 && scale.shape() == loc.shape() &&
              corr.dim() == loc.dim() - 1;
  for (int64_t i = 0; fits && i < corr.dim(); ++i) fits = corr.size(i) == loc.size(i);
  ELBO_CHECK_SHAPE(fits, "{}: loc {} and scale {} must be one shape [..., 2] and corr {} that shape without the 2",
                   kName, loc.shape(), scale.shape(), corr.shape());
  validate(kName, "loc", loc, Constraint::real);
  validate(kName, "scale", scale, Constraint::positive);
  if (validate_args()) {
    const Tensor a = abs(corr.detach());
    const int64_t outside = count_outside(a, 0, 1), ones = a.numel() - count_outside(a, 1, 1);
    ELBO_CHECK_VALUE(outside == 0 && ones == 0, "{}: corr {} must be in (-1, 1) (found {} values outside, NaN "
                     "included, and {} of magnitude 1)", kName, corr.shape(), outside, ones);
  }
  const DType d = (loc.dtype() == DType::f64 || scale.dtype() == DType::f64 || corr.dtype() == DType::f64)
                      ? DType::f64 : DType::f32;
  loc_ = loc.to(d), scale_ = scale.to(d), corr_ = corr.to(d);
  m1_ = select(loc_, -1, 0), m2_ = select(loc_, -1, 1);
  s1_ = select(scale_, -1, 0), s2_ = select(scale_, -1, 1);
}

const Shape& BivariateNormal::event_shape() const {
  static const Shape two{2};
  return two;
}

Tensor BivariateNormal::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

Tensor BivariateNormal::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor e1 = randn(extended_shape(sample_shape, batch_shape()), gen, dtype());
  const Tensor e2 = randn(extended_shape(sample_shape, batch_shape()), gen, dtype());
  const Tensor x1 = m1_ + s1_ * e1;
  const Tensor x2 = m2_ + s2_ * (corr_ * e1 + sqrt(1.0 - square(corr_)) * e2);
  return stack({x1, x2}, -1);
}

Tensor BivariateNormal::log_prob(const Tensor& value) const {
  check_floating(kName, "value", value);
  check_value_shape(kName, value, batch_shape(), {2});
  validate(kName, "value", value, Constraint::real);
  const Tensor v = value.dtype() == dtype() ? value : value.to(dtype());
  const Tensor u1 = (select(v, -1, 0) - m1_) / s1_, u2 = (select(v, -1, 1) - m2_) / s2_;
  const Tensor om = 1.0 - square(corr_);
  const Tensor z = square(u1) + square(u2) - 2.0 * corr_ * u1 * u2;
  return -z / (2.0 * om) - log(s1_ * s2_) - 0.5 * log(om) - std::log(2 * std::numbers::pi);
}

Tensor BivariateNormal::entropy() const {
  return 1.0 + std::log(2 * std::numbers::pi) + log(s1_ * s2_) + 0.5 * log(1.0 - square(corr_));
}

MultivariateNormal BivariateNormal::to_multivariate() const {
  const Tensor zero = zeros_like(s1_);
  const Tensor row0 = stack({s1_, zero}, -1), row1 = stack({corr_ * s2_, s2_ * sqrt(1.0 - square(corr_))}, -1);
  return MultivariateNormal(loc_, stack({row0, row1}, -2));
}

}  // namespace elbo::dist
