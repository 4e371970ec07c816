#pragma once
// Categorical and OneHotCategorical over the last dim of logits [..., K], as torch.distributions:
// batch_shape = logits.shape()[:-1]. Categorical's event_shape is [] and its values are i64 class
// indices; OneHotCategorical's event_shape is [K] and its values are one-hot vectors in dtype().
// Logits are stored normalized (log_softmax, so logsumexp over K is 0) and score by gather, never
// log(probs). from_probs(p) normalizes p over K, keeps it for probs(), and takes logits = log(p') with p'
// clamped to [eps, 1 - eps], as torch. Neither is reparameterizable (no rsample); relaxed.h has the
// Gumbel-softmax relaxation. Categorical has no mean()/variance() (torch returns NaN; here, no method).
#include "distribution.h"

namespace elbo::dist {

class Categorical {
 public:
  explicit Categorical(const Tensor& logits);
  static Categorical from_probs(const Tensor& probs);

  const Tensor& logits() const { return logits_; }  // normalized: logsumexp(logits, -1) == 0
  Tensor probs() const;                             // softmax(logits), or the normalized probs given
  Shape batch_shape() const;
  int64_t batch_ndims() const { return logits_.dim() - 1; }
  Shape event_shape() const { return {}; }
  int64_t num_events() const { return logits_.shape().back(); }
  DType dtype() const { return logits_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // i64 indices, sample ++ batch
  Tensor log_prob(const Tensor& value) const;                           // value: i64 indices in [0, K)
  Tensor entropy() const;

 private:
  Categorical(Tensor logits, Tensor probs) : logits_(std::move(logits)), probs_(std::move(probs)) {}
  Tensor logits_, probs_;  // probs_ is defined only when built from probs
  friend Tensor kl_divergence(const Categorical& p, const Categorical& q);  // tells exact zeros from underflow
};

class OneHotCategorical {
 public:
  explicit OneHotCategorical(const Tensor& logits) : cat_(logits) {}
  static OneHotCategorical from_probs(const Tensor& probs) { return OneHotCategorical(Categorical::from_probs(probs)); }
  explicit OneHotCategorical(Categorical cat) : cat_(std::move(cat)) {}

  const Categorical& categorical() const { return cat_; }
  const Tensor& logits() const { return cat_.logits(); }
  Tensor probs() const { return cat_.probs(); }
  Shape batch_shape() const { return cat_.batch_shape(); }
  Shape event_shape() const { return {cat_.num_events()}; }
  int64_t num_events() const { return cat_.num_events(); }
  DType dtype() const { return cat_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // one-hot [sample ++ batch ++ K]
  // value: one-hot along the last dim. Scored as Categorical at argmax(value), as torch: no gradient
  // reaches value.
  Tensor log_prob(const Tensor& value) const;
  Tensor entropy() const { return cat_.entropy(); }
  Tensor mean() const { return cat_.probs(); }
  Tensor variance() const;

 private:
  Categorical cat_;
};

// Validation helpers for simplex-valued families (also used by RelaxedOneHotCategorical).
// value >= 0 with |sum over the last dim - 1| < 1e-6, as torch's constraints.simplex.
void check_simplex(std::string_view dist, std::string_view what, const Tensor& value);
// value in {0, 1} with exactly one 1 along the last dim.
void check_one_hot(std::string_view dist, std::string_view what, const Tensor& value);

}  // namespace elbo::dist
