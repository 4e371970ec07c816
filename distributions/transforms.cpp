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

Transform::InverseResult Transform::inverse_with_log_det(const Tensor& y) const {
  Tensor x = inverse(y);
  return {x, log_abs_det_jacobian(x, y)};
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

UnitIntervalTransform::UnitIntervalTransform(double alpha) : alpha_(alpha) {
  ELBO_CHECK_VALUE(alpha >= 0 && alpha < 0.5, "UnitIntervalTransform: alpha must be in [0, 0.5), got {}", alpha);
}
Tensor UnitIntervalTransform::forward(const Tensor& y) const { return (sigmoid(y) - alpha_) / (1.0 - 2.0 * alpha_); }
Tensor UnitIntervalTransform::inverse(const Tensor& x) const {
  const Tensor p = alpha_ + (1.0 - 2.0 * alpha_) * x;
  return log(p) - log1p(-p);
}
Tensor UnitIntervalTransform::log_abs_det_jacobian(const Tensor& y, const Tensor&) const {
  return -softplus(-y) - softplus(y) - std::log(1.0 - 2.0 * alpha_);
}

Tensor FlipTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1, "FlipTransform: x {} has no event dim", x.shape());
  const Shape& s = x.shape();  // zeros over x's batch dims, no shape built
  return zeros(IntList(s.data(), s.size() - 1), x.dtype());
}

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
  const Shape& s = (y.defined() ? y : x).shape();  // the broadcast batch of x and v
  ELBO_CHECK_SHAPE(!s.empty(), "HouseholderTransform: x {} has no event dim", s);
  return zeros(IntList(s.data(), s.size() - 1), x.dtype());
}

// ---- sylvester ----

SylvesterTransform::SylvesterTransform(Tensor q, Tensor r, Tensor r_tilde, Tensor b)
    : q_(std::move(q)), r_(triu(r)), r_tilde_(triu(r_tilde)), b_(std::move(b)) {
  ELBO_CHECK_SHAPE(q_.dim() >= 2, "SylvesterTransform: Q must be [..., D, M], got shape {}", q_.shape());
  const int64_t m = q_.size(-1);
  ELBO_CHECK_SHAPE(r_.dim() >= 2 && r_.size(-1) == m && r_.size(-2) == m && r_tilde_.dim() >= 2 &&
                       r_tilde_.size(-1) == m && r_tilde_.size(-2) == m && b_.dim() >= 1 && b_.size(-1) == m,
                   "SylvesterTransform: R {} and R~ {} must be [..., {}, {}] and b {} [..., {}] for Q {}", r_.shape(),
                   r_tilde_.shape(), m, m, b_.shape(), m, q_.shape());
}

Transform::Result SylvesterTransform::forward_with_log_det(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == q_.size(-2), "SylvesterTransform: x {} is not [..., {}]", x.shape(),
                   q_.size(-2));
  auto times = [](const Tensor& a, const Tensor& v) { return squeeze(matmul(a, unsqueeze(v, -1)), -1); };
  const Tensor qt = transpose(q_, -1, -2);
  const Tensor pre = times(matmul(r_tilde_, qt), x) + b_;  // R~ Q^T x + b, [..., M]
  const Tensor h = tanh(pre);
  const Tensor y = x + times(matmul(q_, r_), h);
  const Tensor diag = diagonal(r_) * diagonal(r_tilde_);  // r_ii r~_ii
  const Tensor log_det = sum(log(abs(1.0 + diag * (1.0 - square(h)))), {-1});
  return {y, log_det};
}

Tensor SylvesterTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return forward_with_log_det(x).log_det;
}

Tensor orthogonalize(const Tensor& raw, int64_t steps) {
  ELBO_CHECK_SHAPE(raw.dim() >= 2 && raw.size(-2) >= raw.size(-1),
                   "orthogonalize: needs [..., D, M] with D >= M, got shape {}", raw.shape());
  const int64_t m = raw.size(-1);
  const Tensor eye = diag_embed(ones({m}, raw.dtype()));
  Tensor q = raw / unsqueeze(unsqueeze(sqrt(sum(square(raw), {-2, -1})), -1), -1);
  for (int64_t k = 0; k < steps; ++k) q = matmul(q, eye + 0.5 * (eye - matmul(transpose(q, -1, -2), q)));
  return q;
}

// ---- affine coupling ----

AffineCouplingTransform::AffineCouplingTransform(Net net, int64_t features, int64_t split)
    : net_(std::move(net)), features_(features), split_(split) {
  ELBO_CHECK(net_ != nullptr, "AffineCouplingTransform: the network is empty");
  ELBO_CHECK_VALUE(split >= 1 && split < features, "AffineCouplingTransform: split {} must be in [1, {})", split,
                   features);
}

AffineCouplingTransform::AffineCouplingTransform(ContextNet net, Tensor context, int64_t features, int64_t split)
    : context_net_(std::move(net)), context_(std::move(context)), features_(features), split_(split) {
  ELBO_CHECK(context_net_ != nullptr, "AffineCouplingTransform: the network is empty");
  ELBO_CHECK_VALUE(split >= 1 && split < features, "AffineCouplingTransform: split {} must be in [1, {})", split,
                   features);
}

std::pair<Tensor, Tensor> AffineCouplingTransform::st(const Tensor& x_a, const Tensor& x) const {
  auto [s, t] = net_ ? net_(x_a) : context_net_(x_a, context_);
  // [..., features - split] with x's leading dims, checked without building that shape
  auto fits = [&](const Tensor& v) {
    if (v.dim() != x.dim() || v.size(-1) != features_ - split_) return false;
    for (int64_t d = 0; d + 1 < x.dim(); ++d)
      if (v.size(d) != x.size(d)) return false;
    return true;
  };
  if (!fits(s) || !fits(t)) {
    Shape want = x.shape();
    want.back() = features_ - split_;
    throw ShapeError(fmt::format("AffineCouplingTransform: the network returned s {} and t {}, expected {}",
                                 s.shape(), t.shape(), want));
  }
  return {s, t};
}

Transform::Result AffineCouplingTransform::forward_with_log_det(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == features_, "AffineCouplingTransform: x {} is not [..., {}]",
                   x.shape(), features_);
  const Tensor xa = narrow(x, -1, 0, split_), xb = narrow(x, -1, split_, features_ - split_);
  const auto [s, t] = st(xa, x);
  return {cat({xa, xb * exp(s) + t}, -1), sum(s, {-1})};
}

Tensor AffineCouplingTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return forward_with_log_det(x).log_det;
}

Transform::InverseResult AffineCouplingTransform::inverse_with_log_det(const Tensor& y) const {
  ELBO_CHECK_SHAPE(y.dim() >= 1 && y.size(-1) == features_, "AffineCouplingTransform: y {} is not [..., {}]",
                   y.shape(), features_);
  const Tensor ya = narrow(y, -1, 0, split_), yb = narrow(y, -1, split_, features_ - split_);
  const auto [s, t] = st(ya, y);  // x's kept half is y's, so the forward map's s at x is this s
  return {cat({ya, (yb - t) * exp(-s)}, -1), sum(s, {-1})};
}

}  // namespace elbo::dist
