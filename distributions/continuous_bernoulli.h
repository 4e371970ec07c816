#pragma once
// ContinuousBernoulli(logits), as torch.distributions.ContinuousBernoulli (Loaiza-Ganem and Cunningham 2019):
// density l e^{l x} / (e^l - 1) on [0, 1]; batch_shape = logits.shape(), event_shape = []. Logits are
// canonical and must be finite; from_probs(p) converts as Bernoulli does and keeps p for probs() (the shape
// parameter lambda, not the mean). Every method is finite with finite gradients for any finite logit (series
// near 0, derived in the .cpp); rsample is icdf(u), u ~ U[0, 1), pathwise in logits.
// NOTE: torch clamps probs to [eps, 1 - eps], so logits beyond about +-36 (f64) or +-16 (f32) act there as the
// clamped value (here, as given); inside its Taylor region (probs in (0.499, 0.501)) its cdf and icdf are the
// uniform's, off by up to |logits| / 8 (here, a series).
#include "distribution.h"

namespace elbo::dist {

class ContinuousBernoulli {
 public:
  explicit ContinuousBernoulli(Tensor logits);
  static ContinuousBernoulli from_probs(const Tensor& probs);

  const Tensor& logits() const { return logits_; }
  Tensor probs() const;  // sigmoid(logits) unclamped, or the probs given to from_probs
  const Shape& batch_shape() const { return logits_.shape(); }
  Shape event_shape() const { return {}; }
  DType dtype() const { return logits_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;   // no gradient
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;  // icdf(u), u ~ U[0, 1)
  Tensor log_prob(const Tensor& value) const;                            // value in [0, 1]
  Tensor log_norm() const;  // log C(logits), the log normalizing constant (torch's _cont_bern_log_norm)
  Tensor entropy() const;
  Tensor mean() const;
  Tensor variance() const;
  Tensor stddev() const { return sqrt(variance()); }
  Tensor cdf(const Tensor& value) const;  // value in [0, 1]
  Tensor icdf(const Tensor& p) const;     // p in [0, 1]

 private:
  ContinuousBernoulli(Tensor logits, Tensor probs) : logits_(std::move(logits)), probs_(std::move(probs)) {}
  Tensor logits_, probs_;  // probs_ is defined only when built from probs
};

}  // namespace elbo::dist
