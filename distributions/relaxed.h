#pragma once
// Continuous relaxations of the discrete families (Maddison et al. 2017, "The Concrete Distribution";
// Jang et al. 2017, "Categorical Reparameterization with Gumbel-Softmax"), as torch.distributions'
// RelaxedBernoulli and RelaxedOneHotCategorical. Both are reparameterizable: rsample is plain op math on
// uniform noise, so gradients reach logits and temperature. temperature > 0 is a tensor whose shape
// broadcasts to batch_shape (usually []); a double is taken as a [] tensor in the logits' dtype.
// log_prob is torch's: the base density (logistic / ExpRelaxedCategorical) plus the log-Jacobian of
// sigmoid / exp. There is no entropy, mean or KL (torch has none either; use kl_divergence_mc).
#include "bernoulli.h"
#include "categorical.h"

namespace elbo::dist {

// Values in (0, 1): y = sigmoid((logits + log u - log(1 - u)) / T), u ~ U(0, 1) clamped to [eps, 1 - eps],
// y clamped to [tiny, 1 - eps] as torch's SigmoidTransform. event_shape [], batch_shape = logits.shape().
// NOTE: torch recomputes logits from clamped probs in rsample; here logits are used as given, so
// |logits| > 36 (f64) relax toward the true logit instead of a clamped one.
class RelaxedBernoulli {
 public:
  RelaxedBernoulli(const Tensor& temperature, const Tensor& logits);
  RelaxedBernoulli(double temperature, const Tensor& logits);
  static RelaxedBernoulli from_probs(const Tensor& temperature, const Tensor& probs);
  static RelaxedBernoulli from_probs(double temperature, const Tensor& probs);

  const Tensor& temperature() const { return temperature_; }
  const Tensor& logits() const { return bern_.logits(); }
  Tensor probs() const { return bern_.probs(); }
  const Shape& batch_shape() const { return bern_.batch_shape(); }
  Shape event_shape() const { return {}; }
  DType dtype() const { return bern_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // no gradient
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;
  // value in [0, 1] (clamped to [tiny, 1 - eps] before the logit, as torch)
  Tensor log_prob(const Tensor& value) const;

 private:
  RelaxedBernoulli(const Tensor& temperature, Bernoulli bern);
  Tensor temperature_;
  Bernoulli bern_;
};

// Values on the simplex over the last dim: y = softmax((logits + g) / T), g_k = -log(-log u_k) Gumbel
// noise. batch_shape = logits.shape()[:-1], event_shape = [K]. log_prob is undefined (NaN) at values
// with a zero coordinate, as torch's; at low temperature rsample can underflow to such values.
class RelaxedOneHotCategorical {
 public:
  RelaxedOneHotCategorical(const Tensor& temperature, const Tensor& logits);
  RelaxedOneHotCategorical(double temperature, const Tensor& logits);
  static RelaxedOneHotCategorical from_probs(const Tensor& temperature, const Tensor& probs);
  static RelaxedOneHotCategorical from_probs(double temperature, const Tensor& probs);

  const Tensor& temperature() const { return temperature_; }
  const Tensor& logits() const { return cat_.logits(); }  // normalized, as Categorical
  Tensor probs() const { return cat_.probs(); }
  Shape batch_shape() const { return cat_.batch_shape(); }
  Shape event_shape() const { return {cat_.num_events()}; }
  int64_t num_events() const { return cat_.num_events(); }
  DType dtype() const { return cat_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // no gradient
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;
  // Straight-through Gumbel-softmax (Jang et al. 2017, sec. 2.2): the forward value is one_hot(argmax y)
  // for y = rsample(...), the gradient is y's: one_hot - y.detach() + y.
  Tensor rsample_hard(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor log_prob(const Tensor& value) const;  // value on the simplex, every coordinate > 0

 private:
  RelaxedOneHotCategorical(const Tensor& temperature, Categorical cat);
  Tensor temperature_;
  Categorical cat_;
};

}  // namespace elbo::dist
