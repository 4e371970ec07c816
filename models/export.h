#pragma once
// A trained model as a tool (the zoo's elbo-vae --encode, --decode and --score): each call walks a data
// set in batches of `batch` rows, without gradients, and returns one row per example in data order.
//   encode  q(z|x)'s point, loc = location(q) (its mean where it has one; for a flow posterior the flow
//           applied to its base's mean), and for families with moments the marginal standard deviations,
//           scale (the diagonal family's own scale; for full and low-rank covariances the square roots of
//           the covariance's diagonal). A latent vector for a downstream task is loc, not a sample.
//   decode  the means of p(x|z) for the given latents (for the Bernoulli likelihood the pixel
//           probabilities), one flattened example per row
//   score   each example's ELBO (one reparameterized sample) and, with k > 0, its k-sample IWAE bound on
//           log p(x), in nats: low values flag examples the model finds unlikely (outliers)
#include "../autograd/random.h"
#include "model.h"

namespace elbo::models {

struct Encoding {
  Tensor loc;    // [N, L]
  Tensor scale;  // [N, L]; undefined for a family without moments (a flow posterior)
};
Encoding encode(const AmortizedModel& m, const Tensor& x, int64_t batch = 500);

Tensor decode(const LatentModel& m, const Tensor& z, int64_t batch = 500);  // [N, D]

struct Scores {
  Tensor elbo;    // [N]
  Tensor loglik;  // [N]; undefined when k = 0
};
Scores score(const AmortizedModel& m, const Tensor& x, Generator& gen, int k = 0, int64_t batch = 500);

}  // namespace elbo::models
