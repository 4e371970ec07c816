#include "distributions/autoregressive.h"

namespace elbo::dist {

AffineAutoregressiveTransform::AffineAutoregressiveTransform(AutoregressiveNet net, int64_t features, Tensor context,
                                                             double bias)
    : net_(std::move(net)), features_(features), context_(std::move(context)), bias_(bias) {
  ELBO_CHECK(net_ != nullptr, "AffineAutoregressiveTransform: the network is empty");
  ELBO_CHECK_VALUE(features >= 1, "AffineAutoregressiveTransform: features must be >= 1, got {}", features);
}

Transform::Result AffineAutoregressiveTransform::forward_with_log_det(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.dim() >= 1 && x.size(-1) == features_, "AffineAutoregressiveTransform: x {} is not [..., {}]",
                   x.shape(), features_);
  const auto [m, s] = net_(x, context_);
  ELBO_CHECK_SHAPE(m.shape() == x.shape() && s.shape() == x.shape(),
                   "AffineAutoregressiveTransform: the network returned m {} and s {} for x {}", m.shape(), s.shape(),
                   x.shape());
  const Tensor gate = s + bias_;
  const Tensor sigma = sigmoid(gate);
  return {sigma * x + (1.0 - sigma) * m, sum(log_sigmoid(gate), {-1})};
}

Tensor AffineAutoregressiveTransform::log_abs_det_jacobian(const Tensor& x, const Tensor&) const {
  return forward_with_log_det(x).log_det;
}

// x_i = (y_i - (1 - sigma_i) m_i) / sigma_i, where (m_i, sigma_i) need x_{<i}: after pass k the first k
// coordinates (in the network's order) are exact, so D passes give all of them.
Tensor AffineAutoregressiveTransform::inverse(const Tensor& y) const {
  ELBO_CHECK_SHAPE(y.dim() >= 1 && y.size(-1) == features_, "AffineAutoregressiveTransform: y {} is not [..., {}]",
                   y.shape(), features_);
  Tensor x = zeros_like(y);
  for (int64_t pass = 0; pass < features_; ++pass) {
    const auto [m, s] = net_(x, context_);
    const Tensor sigma = sigmoid(s + bias_);
    x = (y - (1.0 - sigma) * m) / sigma;
  }
  return x;
}

InverseTransform::InverseTransform(TransformPtr t) : t_(std::move(t)) {
  ELBO_CHECK(t_ != nullptr, "InverseTransform: the transform is null");
  ELBO_CHECK(t_->has_inverse(), "InverseTransform: {} has no closed-form inverse", t_->name());
}

}  // namespace elbo::dist
