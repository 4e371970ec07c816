#pragma once
// IntensityCategorical: a Categorical over K intensity levels of [0, 1], for images scored level by level
// (the zoo's categorical likelihood head, models/likelihood.h).
#include "categorical.h"

namespace elbo::dist {

// A pixel intensity in [0, 1] as one of K levels: level k holds [k/K, (k+1)/K) (level K-1 also holds 1).
// A Categorical over the levels whose values are intensities: log_prob(x) is the log probability of x's
// level, sample() and mean() return level centres (k + 1/2) / K. batch_shape = logits.shape()[:-1].
class IntensityCategorical {
 public:
  explicit IntensityCategorical(const Tensor& logits) : cat_(logits) {}
  const Categorical& categorical() const { return cat_; }
  int64_t levels() const { return cat_.num_events(); }
  Shape batch_shape() const { return cat_.batch_shape(); }
  int64_t batch_ndims() const { return cat_.batch_ndims(); }
  Shape event_shape() const { return {}; }
  Tensor log_prob(const Tensor& x) const;  // x in [0, 1]
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor mean() const;      // sum_k p_k (k + 1/2) / K
  Tensor variance() const;  // of the level centres
  // The level index of each intensity, floor(x K) clamped to [0, K - 1]: i64, x's shape.
  static Tensor level_of(const Tensor& x, int64_t levels);

 private:
  Tensor centres() const;  // [K]
  Categorical cat_;
};

}  // namespace elbo::dist
