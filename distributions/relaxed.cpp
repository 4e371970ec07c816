// RelaxedBernoulli and RelaxedOneHotCategorical: torch's TransformedDistribution formulas written out.
#include "distributions/relaxed.h"

#include <cmath>
#include <limits>

namespace elbo::dist {

namespace {
constexpr const char* kBern = "RelaxedBernoulli";
constexpr const char* kCat = "RelaxedOneHotCategorical";

double eps_of(DType d) {
  return d == DType::f32 ? double(std::numeric_limits<float>::epsilon()) : std::numeric_limits<double>::epsilon();
}
double tiny_of(DType d) {
  return d == DType::f32 ? double(std::numeric_limits<float>::min()) : std::numeric_limits<double>::min();
}

// temperature in the parameters' dtype, checked: floating, > 0, shape broadcasting to batch_shape.
Tensor checked_temperature(std::string_view dist, const Tensor& t, const Shape& batch, DType d) {
  check_floating(dist, "temperature", t);
  ELBO_CHECK_SHAPE(broadcast_shape(dist, "temperature", t.shape(), "batch_shape", batch) == batch,
                   "{}: temperature {} must broadcast to batch_shape {}", dist, t.shape(), batch);
  validate(dist, "temperature", t, Constraint::positive);
  return t.to(d);
}

// Uniform noise clamped to [eps, 1 - eps], as torch's clamp_probs(torch.rand(...)).
Tensor clamped_uniform(const Shape& shape, Generator& gen, DType d) {
  const double eps = eps_of(d);
  return clamp(rand(shape, gen, d), eps, 1 - eps);
}
}  // namespace

// ---- RelaxedBernoulli ----

RelaxedBernoulli::RelaxedBernoulli(const Tensor& temperature, Bernoulli bern)
    : temperature_(checked_temperature(kBern, temperature, bern.batch_shape(), bern.dtype())), bern_(std::move(bern)) {}
RelaxedBernoulli::RelaxedBernoulli(const Tensor& temperature, const Tensor& logits)
    : RelaxedBernoulli(temperature, Bernoulli(logits)) {}
RelaxedBernoulli::RelaxedBernoulli(double temperature, const Tensor& logits)
    : RelaxedBernoulli(full({}, temperature, logits.defined() ? logits.dtype() : DType::f32), logits) {}
RelaxedBernoulli RelaxedBernoulli::from_probs(const Tensor& temperature, const Tensor& probs) {
  return RelaxedBernoulli(temperature, Bernoulli::from_probs(probs));
}
RelaxedBernoulli RelaxedBernoulli::from_probs(double temperature, const Tensor& probs) {
  return from_probs(full({}, temperature, probs.defined() ? probs.dtype() : DType::f32), probs);
}

Tensor RelaxedBernoulli::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

// x = (logits + logit(u)) / T is Logistic(logits / T, 1 / T); y = sigmoid(x).
Tensor RelaxedBernoulli::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor u = clamped_uniform(extended_shape(sample_shape, batch_shape()), gen, dtype());
  const Tensor x = (logits() + (log(u) - log1p(-u))) / temperature_;
  return clamp(sigmoid(x), tiny_of(dtype()), 1 - eps_of(dtype()));
}

// With x = logit(y), l = logits, T = temperature:
//   log p_X(x) = log T + (l - x T) - 2 log(1 + e^{l - x T})     (logistic density, Maddison et al. eq. 22)
//   log |dy/dx| = log sigmoid(x) + log sigmoid(-x) = -softplus(-x) - softplus(x)
//   log p_Y(y) = log p_X(x) - log |dy/dx|
// NOTE: torch writes 2 log1p(exp(diff)); softplus is the same value without the overflow for diff > 709.
Tensor RelaxedBernoulli::log_prob(const Tensor& value) const {
  check_floating(kBern, "value", value);
  check_value_shape(kBern, value, batch_shape());
  validate(kBern, "value", value, Constraint::unit_interval);
  const DType d = common_dtype(logits(), value);
  const Tensor y = clamp(value.to(d), tiny_of(d), 1 - eps_of(d));
  const Tensor x = log(y) - log1p(-y);
  const Tensor diff = logits() - x * temperature_;
  const Tensor base = log(temperature_) + diff - 2.0 * softplus(diff);
  return base + softplus(-x) + softplus(x);
}

// ---- RelaxedOneHotCategorical ----

namespace {
// temperature [batch'] aligned with [..., K] tensors: a trailing 1 keeps it off the class dim.
Tensor per_class(const Tensor& t) { return t.dim() == 0 ? t : unsqueeze(t, -1); }
}  // namespace

RelaxedOneHotCategorical::RelaxedOneHotCategorical(const Tensor& temperature, Categorical cat)
    : temperature_(checked_temperature(kCat, temperature, cat.batch_shape(), cat.dtype())), cat_(std::move(cat)) {}
RelaxedOneHotCategorical::RelaxedOneHotCategorical(const Tensor& temperature, const Tensor& logits)
    : RelaxedOneHotCategorical(temperature, Categorical(logits)) {}
RelaxedOneHotCategorical::RelaxedOneHotCategorical(double temperature, const Tensor& logits)
    : RelaxedOneHotCategorical(full({}, temperature, logits.defined() ? logits.dtype() : DType::f32), logits) {}
RelaxedOneHotCategorical RelaxedOneHotCategorical::from_probs(const Tensor& temperature, const Tensor& probs) {
  return RelaxedOneHotCategorical(temperature, Categorical::from_probs(probs));
}
RelaxedOneHotCategorical RelaxedOneHotCategorical::from_probs(double temperature, const Tensor& probs) {
  return from_probs(full({}, temperature, probs.defined() ? probs.dtype() : DType::f32), probs);
}

Tensor RelaxedOneHotCategorical::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

// Gumbel-softmax: g = -log(-log u) ~ Gumbel(0, 1), y = softmax((logits + g) / T).
Tensor RelaxedOneHotCategorical::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor u = clamped_uniform(extended_shape(sample_shape, batch_shape(), event_shape()), gen, dtype());
  const Tensor gumbel = -log(-log(u));
  return softmax((logits() + gumbel) / per_class(temperature_), -1);
}

Tensor RelaxedOneHotCategorical::rsample_hard(Generator& gen, const Shape& sample_shape) const {
  const Tensor y = rsample(gen, sample_shape);
  const Tensor hard = one_hot(argmax(y.detach(), -1), num_events(), dtype());
  return (hard - y.detach()) + y;
}

// torch's ExpRelaxedCategorical density of x = log y (Maddison et al. 2017, appendix C.3), then the exp
// Jacobian: log p_Y(y) = log p_X(x) - sum_k x_k, with
//   log p_X(x) = log (K-1)! + (K-1) log T + sum_k [s_k - logsumexp(s)],   s_k = logits_k - T x_k.
Tensor RelaxedOneHotCategorical::log_prob(const Tensor& value) const {
  check_floating(kCat, "value", value);
  check_value_shape(kCat, value, batch_shape(), event_shape());
  if (validate_args()) check_simplex(kCat, "value", value);
  const double k = double(num_events());
  const Tensor x = log(value.to(common_dtype(logits(), value)));
  const Tensor log_scale = std::lgamma(k) + (k - 1) * log(temperature_);
  const Tensor score = logits() - x * per_class(temperature_);
  return (sum(log_softmax(score, -1), {-1}) + log_scale) - sum(x, {-1});
}

}  // namespace elbo::dist
