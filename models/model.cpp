#include "models/model.h"

#include "distributions/independent.h"
#include "distributions/normal.h"

namespace elbo::models {

dist::AnyDistribution standard_normal(int64_t latent, DType dtype) {
  ELBO_CHECK_VALUE(latent >= 1, "standard_normal: latent dims must be >= 1, got {}", latent);
  return dist::Independent(dist::Normal(zeros({latent}, dtype), ones({latent}, dtype)), 1);
}

}  // namespace elbo::models
