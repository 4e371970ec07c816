#pragma once
// BivariateNormal(loc, scale, corr): a Normal over [2] with a scale per axis and the correlation between
// them, the pen-offset density of SketchRNN (Graves 2013, eq. 24-25). loc and scale are [..., 2] of one
// shape, corr is [...] (their shape without the last dim): batch_shape [...], event_shape [2]; scale > 0,
// corr in (-1, 1). torch has no such class: it is torch's MultivariateNormal(loc, scale_tril) with
// scale_tril [[s1, 0], [rho s2, s2 sqrt(1 - rho^2)]] (to_multivariate()), and the tests hold them equal;
// here log_prob is a dozen elementwise ops instead of a triangular solve per element, for a mixture over
// every time step of every sequence (MixtureSameFamily<BivariateNormal>).
#include "distribution.h"
#include "multivariate_normal.h"

namespace elbo::dist {

class BivariateNormal {
 public:
  BivariateNormal(Tensor loc, Tensor scale, Tensor corr);

  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }
  const Tensor& corr() const { return corr_; }
  const Shape& batch_shape() const { return corr_.shape(); }
  const Shape& event_shape() const;  // [2]
  DType dtype() const { return loc_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // no gradient
  // x1 = m1 + s1 e1, x2 = m2 + s2 (rho e1 + sqrt(1 - rho^2) e2), e ~ N(0, I): pathwise in every parameter
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;
  // -(u1^2 + u2^2 - 2 rho u1 u2) / (2 (1 - rho^2)) - log(2 pi s1 s2 sqrt(1 - rho^2)), u = (x - m) / s;
  // value [..., 2] broadcasts against batch_shape ++ [2].
  Tensor log_prob(const Tensor& value) const;
  Tensor entropy() const;  // 1 + log(2 pi) + log s1 + log s2 + log(1 - rho^2) / 2
  Tensor mean() const { return loc_; }
  Tensor variance() const { return square(scale_); }
  MultivariateNormal to_multivariate() const;

 private:
  Tensor loc_, scale_, corr_;
  Tensor s1_, s2_, m1_, m2_;  // the columns, split once
};

}  // namespace elbo::dist
