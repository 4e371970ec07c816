#pragma once
// DiscretizedLogistic: the logistic's mass on each of 256 intensity bins (the zoo's discretized-logistic
// likelihood head, models/likelihood.h).
#include "distribution.h"

namespace elbo::dist {

// The discretized logistic over 8-bit intensities x = k / 255 (Salimans et al. 2017, PixelCNN++; Kingma
// et al. 2016): the mass of a logistic(loc, scale) on the bin [x - 1/510, x + 1/510], the first bin
// reaching down to -inf and the last up to +inf, so the 256 levels' probabilities sum to 1:
//   log P(x) = log(sigmoid((x - loc + 1/510) / s) - sigmoid((x - loc - 1/510) / s)),
// written with log_sigmoid / softplus at the edges, and the bin's density times its width where the
// difference underflows. sample() draws loc + s logit(u) and rounds it to a level; mean() is loc in [0, 1].
class DiscretizedLogistic {
 public:
  DiscretizedLogistic(Tensor loc, Tensor log_scale);
  const Shape& batch_shape() const { return loc_.shape(); }
  Shape event_shape() const { return {}; }
  Tensor log_prob(const Tensor& x) const;  // x in [0, 1], on the 8-bit grid
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor mean() const { return clamp(loc_, 0.0, 1.0); }
  Tensor variance() const;  // of the logistic: (pi s)^2 / 3

 private:
  Tensor loc_, log_scale_;
};

}  // namespace elbo::dist
