#pragma once
// TransformedDistribution(base, [f1, ..., fK]): the law of y = fK(...f1(x)) for x ~ base, as
// torch.distributions.TransformedDistribution; a normalizing flow when the f are flows (transforms.h).
// event_shape grows to the largest event_dim a transform acts on (a vector flow over a Normal with
// batch [B, D] makes event [D], batch [B]).
//   log p(y) = log base(x0) - sum_k log |det J_fk(x_{k-1})|,   x_k = fk(x_{k-1}), y = x_K.
// rsample pushes a reparameterized base draw through the transforms and remembers the chain's log-det;
// log_prob of that very tensor (the same handle, as the ELBO and IWAE estimators pass it) uses the
// remembered terms, so a flow without a closed-form inverse (planar, radial, IAF) scores its own
// samples exactly, as Pyro's transform caches do. Any other value is inverted transform by transform,
// which needs has_inverse() for each (an Error names the one that lacks it).
#include <memory>
#include <vector>

#include "any.h"
#include "transforms.h"

namespace elbo::dist {

// The transforms of a TransformedDistribution, first applied first (pooled: building one per training
// step does not reach the heap).
using TransformList = detail::PooledVector<TransformPtr>;

class TransformedDistribution {
 public:
  TransformedDistribution(AnyDistribution base, TransformList transforms);

  const AnyDistribution& base_dist() const { return base_; }
  const TransformList& transforms() const { return transforms_; }
  Shape batch_shape() const;
  Shape event_shape() const;

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;   // no gradient
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;  // needs a reparameterized base
  Tensor log_prob(const Tensor& value) const;
  // rsample and the log-density of the draw in one pass.
  struct Draw {
    Tensor value, log_prob;
  };
  Draw rsample_with_log_prob(Generator& gen, const Shape& sample_shape = {}) const;

 private:
  Draw push(const Tensor& x0) const;  // through every transform
  AnyDistribution base_;
  TransformList transforms_;
  int64_t event_dims_;       // of the result
  int64_t base_event_dims_;  // of the base
  struct Last {         // the last draw and its log-density, for log_prob of that same tensor
    Tensor value, log_prob;
  };
  std::shared_ptr<Last> last_;
};

}  // namespace elbo::dist
