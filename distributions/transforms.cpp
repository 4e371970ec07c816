// The transforms of transforms.h; formulas and sources are given there.
#include "distributions/transforms.h"

#include <cmath>
#include <limits>

namespace elbo::dist {
namespace {
// Drops the last dim of a [..., 1]-free reduction: the dot product over the event dim.
Tensor dot(const Tensor& a, const Tensor& b) { return sum(a * b, {-1}); }
void check_vector_params(const char* name, const Tensor& v, const char* what) {
  check_floating(name, what, v);
  ELBO_CHECK_SHAPE(v.dim() >= 1, "{}: {} must be [..., D], got shape {}", name, what, v.shape());
}
}  // namespace

Transform::Result Transform::forward_with_log_det(const Tensor& x) const {
  Tensor y = forward(x);
  return {y, log_abs_det_jacobian(x, y)};
}

Tensor Transform::inverse(const Tensor&) const {
  throw Error(fmt::format("{}: has no closed-form inverse (TransformedDistribution scores its own samples "
                          "without one)", name()));
}

// ---- elementwise ----

AffineTransform::AffineTransform(Tensor loc, Tensor scale, int64_t event_dim)
    : loc_(std::move(loc)), scale_(std::move(scale)), event_dim_(event_dim) {
  check_floating("AffineTransform", "loc", loc_);
  check_floating("AffineTransform", "scale", scale_);
  ELBO_CHECK_VALUE(event_dim >= 0, "AffineTransform: event_dim must be >= 0, got {}", event_dim);
}
Tensor AffineTransform::forward(const Tensor& x) const { return loc_ + scale_ * x; }
Tensor AffineTransform::inverse(const Tensor& y) const { return (y - loc_) / scale_; }
Tensor AffineTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  const Tensor l = log(abs(scale_));
  return sum_rightmost(l.shape() == x.shape() ? l : expand(l, x.shape()), event_dim_);
}

Tensor ExpTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const { return x; }

Tensor SigmoidTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return -softplus(-x) - softplus(x);
}
Tensor SigmoidTransform::inverse(const Tensor& y0) const {
  const bool f64 = y0.dtype() == DType::f64;
  const double tiny = f64 ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
  const double eps = f64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
  const Tensor y = clamp(y0, tiny, 1.0 - eps);
  return log(y) - log1p(-y);
}

Tensor TanhTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return 2.0 * (std::log(2.0) - x - softplus(-2.0 * x));
}
Tensor TanhTransform::inverse(const Tensor& y) const { return 0.5 * (log1p(y) - log1p(-y)); }

// ---- planar ----

PlanarTransform::PlanarTransform(Tensor u, Tensor w, Tensor b) : w_(std::move(w)), b_(std::move(b)) {
  check_vector_params("PlanarTransform", u, "u");
  check_vector_params("PlanarTransform", w_, "w");
  check_floating("PlanarTransform", "b", b_);
  ELBO_CHECK_SHAPE(u.size(-1) == w_.size(-1), "PlanarTransform: u {} and w {} differ in the event dim", u.shape(),
                   w_.shape());
  const Tensor wu = dot(w_, u);
  const Tensor m = softplus(wu) - 1.0;
  u_hat_ = u + unsqueeze((m - wu) / dot(w_, w_), -1) * w_;
}

Transform::Result PlanarTransform::forward_with_log_det(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == w_.size(-1), "PlanarTransform: x {} is not [..., {}]", x.shape(),
                   w_.size(-1));
  const Tensor t = tanh(dot(w_, x) + b_);
  const Tensor y = x + u_hat_ * unsqueeze(t, -1);
  const Tensor log_det = log(abs(1.0 + (1.0 - square(t)) * dot(w_, u_hat_)));
  return {y, log_det};
}

Tensor PlanarTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return forward_with_log_det(x).log_det;
}

// ---- radial ----

RadialTransform::RadialTransform(Tensor x0, Tensor alpha_raw, Tensor beta_raw) : x0_(std::move(x0)) {
  check_vector_params("RadialTransform", x0_, "x0");
  check_floating("RadialTransform", "alpha", alpha_raw);
  check_floating("RadialTransform", "beta", beta_raw);
  alpha_ = softplus(alpha_raw);
  beta_ = softplus(beta_raw) - alpha_;
}

Transform::Result RadialTransform::forward_with_log_det(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == x0_.size(-1), "RadialTransform: x {} is not [..., {}]", x.shape(),
                   x0_.size(-1));
  const Tensor diff = x - x0_;
  const Tensor r = sqrt(dot(diff, diff));
  const Tensor h = 1.0 / (alpha_ + r);
  const Tensor beta_h = beta_ * h;
  const Tensor y = x + unsqueeze(beta_h, -1) * diff;
  const double d = double(x.size(-1));
  const Tensor log_det = (d - 1.0) * log1p(beta_h) + log1p(beta_h - beta_ * r * square(h));
  return {y, log_det};
}

Tensor RadialTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return forward_with_log_det(x).log_det;
}

// ---- householder ----

HouseholderTransform::HouseholderTransform(Tensor v) : v_(std::move(v)) {
  check_vector_params("HouseholderTransform", v_, "v");
}

Tensor HouseholderTransform::forward(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == v_.size(-1), "HouseholderTransform: x {} is not [..., {}]",
                   x.shape(), v_.size(-1));
  return x - unsqueeze(2.0 * dot(v_, x) / dot(v_, v_), -1) * v_;
}

Tensor HouseholderTransform::log_abs_det_jacobian(const Tensor& x, const Tensor& y) const {
  Shape s = (y.defined() ? y : x).shape();  // the broadcast batch of x and v
  s.pop_back();
  return zeros(s, x.dtype());
}

}  // namespace elbo::dist
