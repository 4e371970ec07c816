#pragma once
// Bernoulli(logits), as torch.distributions.Bernoulli; batch_shape = logits.shape(), event_shape = [].
// Logits are canonical: log_prob is -bce_with_logits(logits, x), finite and with finite gradients for
// any logit, and it accepts x anywhere in [0, 1] (grayscale pixels score as the classic VAE does).
// from_probs(p) keeps p for probs()/mean()/variance() (gradients reach p directly) and converts it to
// logits log(p') - log1p(-p') with p' = p clamped to [eps, 1 - eps], eps the dtype's epsilon, as torch.
// There is no rsample (not reparameterizable); RelaxedBernoulli (relaxed.h) is the relaxation.
#include "distribution.h"

namespace elbo::dist {

class Bernoulli {
 public:
  explicit Bernoulli(Tensor logits);
  static Bernoulli from_probs(const Tensor& probs);

  const Tensor& logits() const { return logits_; }
  Tensor probs() const;  // sigmoid(logits), or the probs given to from_probs
  const Shape& batch_shape() const { return logits_.shape(); }
  Shape event_shape() const { return {}; }
  DType dtype() const { return logits_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // 0/1 in dtype(), no gradient
  Tensor log_prob(const Tensor& value) const;                           // value in [0, 1]
  Tensor log_prob_sum(const Tensor& value, int64_t n) const;            // summed over the last n dims
  Tensor entropy() const;
  Tensor mean() const { return probs(); }
  Tensor variance() const;

 private:
  Bernoulli(Tensor logits, Tensor probs) : logits_(std::move(logits)), probs_(std::move(probs)) {}
  Tensor bce(const Tensor& value) const;  // -log p(value), checked and broadcast
  Tensor logits_, probs_;  // probs_ is defined only when built from probs
  friend Tensor kl_divergence(const Bernoulli& p, const Bernoulli& q);  // tells exact zeros from underflow
};

// log(p) - log1p(-p) after clamping p to [eps, 1 - eps] (eps = the dtype's machine epsilon), as torch's
// probs_to_logits(is_binary=True). Shared with RelaxedBernoulli::from_probs.
Tensor binary_probs_to_logits(const Tensor& probs);

}  // namespace elbo::dist
