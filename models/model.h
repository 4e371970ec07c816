#pragma once
// A latent-variable model p(x, z) = p(z) p(x | z), and one with an inference network q(z | x): three
// distribution objects and nothing else. The estimators (estimators.h) score any model through them, so
// a new prior, posterior or likelihood needs no new estimator.
//   prior()          p(z): event_shape [L] (batch_shape [], or anything that broadcasts against [N])
//   likelihood(z)    p(x | z) for z [N, L]: batch_shape [N], event_shape the data's per-example shape
//   posterior(x)     q(z | x) for x [B, ...]: batch_shape [B], event_shape [L], reparameterized for the
//                    single-sample ELBO gradient (rsample)
// A model is usually also an nn::Module: struct MyVae : nn::Module, models::AmortizedModel { ... }.
#include "../distributions/any.h"

namespace elbo::models {

class LatentModel {
 public:
  virtual ~LatentModel() = default;
  virtual dist::AnyDistribution prior() const = 0;
  virtual dist::AnyDistribution likelihood(const Tensor& z) const = 0;
};

class AmortizedModel : public LatentModel {
 public:
  virtual dist::AnyDistribution posterior(const Tensor& x) const = 0;
};

// N(0, I) over [L] latents in dtype: Independent(Normal(zeros [L], ones [L]), 1).
dist::AnyDistribution standard_normal(int64_t latent, DType dtype = DType::f32);

}  // namespace elbo::models
