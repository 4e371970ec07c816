// Bernoulli: torch.distributions.Bernoulli's formulas, scored from logits with the fused stable
// binary_cross_entropy_with_logits, never log(probs).
#include "distributions/bernoulli.h"

#include <limits>

namespace elbo::dist {

namespace {
constexpr const char* kName = "Bernoulli";

double machine_eps(DType d) {
  return d == DType::f32 ? double(std::numeric_limits<float>::epsilon()) : std::numeric_limits<double>::epsilon();
}
}  // namespace

Tensor binary_probs_to_logits(const Tensor& probs) {
  const double eps = machine_eps(probs.dtype());
  const Tensor p = clamp(probs, eps, 1 - eps);  // NOTE: p = 0 or 1 gives logits -+36.04 (f64), not -+inf
  return log(p) - log1p(-p);
}

Bernoulli::Bernoulli(Tensor logits) : logits_(std::move(logits)) {
  check_floating(kName, "logits", logits_);
  validate(kName, "logits", logits_, Constraint::real);
}

Bernoulli Bernoulli::from_probs(const Tensor& probs) {
  check_floating(kName, "probs", probs);
  validate(kName, "probs", probs, Constraint::unit_interval);
  return Bernoulli(binary_probs_to_logits(probs), probs);
}

Tensor Bernoulli::probs() const { return probs_.defined() ? probs_ : sigmoid(logits_); }

Tensor Bernoulli::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  const Tensor p = probs().detach();
  return bernoulli(expand_to(p, extended_shape(sample_shape, batch_shape())), gen);
}

// log p(x) = x log sigmoid(l) + (1 - x) log sigmoid(-l) = -bce_with_logits(l, x); exact for x in {0, 1},
// the usual "continuous" score for x in (0, 1).
Tensor Bernoulli::log_prob(const Tensor& value) const { return -bce(value); }

// -sum(bce): the sum first, so the negation touches one number per example, not every pixel; in the common
// case one fused pass (no per-pixel loss tensor).
Tensor Bernoulli::log_prob_sum(const Tensor& value, int64_t n) const {
  if (value.shape() == logits_.shape() && value.dtype() == dtype()) {
    check_floating(kName, "value", value);
    validate(kName, "value", value, Constraint::unit_interval);
    return -binary_cross_entropy_with_logits_sum(logits_, value, n);
  }
  return -sum_rightmost(bce(value), n);
}

Tensor Bernoulli::bce(const Tensor& value) const {
  check_floating(kName, "value", value);
  check_value_shape(kName, value, batch_shape());
  validate(kName, "value", value, Constraint::unit_interval);
  if (value.shape() == batch_shape() && value.dtype() == dtype())  // the common case, built without a Shape
    return binary_cross_entropy_with_logits(logits_, value, Reduction::none);
  const Shape s = value_shape(kName, value, batch_shape());
  const DType d = common_dtype(logits_, value);
  return binary_cross_entropy_with_logits(expand_to(logits_.to(d), s), expand_to(value.to(d), s), Reduction::none);
}

// H = -p log p - (1 - p) log(1 - p) = bce_with_logits(l, p)
Tensor Bernoulli::entropy() const {
  return binary_cross_entropy_with_logits(logits_, probs().to(dtype()), Reduction::none);
}

Tensor Bernoulli::variance() const {
  const Tensor p = probs();
  return p * (1.0 - p);
}

}  // namespace elbo::dist
