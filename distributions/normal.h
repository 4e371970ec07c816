#pragma once
// Normal(loc, scale), as torch.distributions.Normal. loc and scale broadcast to batch_shape (stored
// expanded, so loc() and scale() have that shape); event_shape is []. scale must be > 0. rsample is
// loc + scale * eps with eps ~ N(0, 1), plain ops, so gradients reach loc and scale pathwise; sample is
// the same draw without a graph. The parameters may be f32 or f64 (mixed promote to f64).
#include "distribution.h"

namespace elbo::dist {

class Normal {
 public:
  Normal(Tensor loc, Tensor scale);

  const Tensor& loc() const { return loc_; }
  const Tensor& scale() const { return scale_; }
  const Shape& batch_shape() const { return loc_.shape(); }
  Shape event_shape() const { return {}; }
  DType dtype() const { return loc_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;   // no gradient
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;  // loc + scale * eps
  Tensor log_prob(const Tensor& value) const;
  Tensor entropy() const;
  Tensor mean() const { return loc_; }
  Tensor variance() const;
  Tensor stddev() const { return scale_; }
  Tensor cdf(const Tensor& value) const;
  Tensor icdf(const Tensor& p) const;  // p in [0, 1]

 private:
  Tensor loc_, scale_;
};

// erf and erfinv are ops of the catalog (autograd/ops.h); dist::erf and dist::erfinv name them still.
using elbo::erf;
using elbo::erfinv;

}  // namespace elbo::dist
