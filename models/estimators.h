#pragma once
// One set of estimators for any latent-variable model (model.h). Every figure is per example, in nats.
//   elbo     E_q[log p(x|z)] - KL(q || p(z)) with S reparameterized samples z ~ q(z|x); the KL in closed
//            form when the (q, prior) pair has one registered (dist::has_kl), else by Monte Carlo on the
//            same samples: log q(z) - log p(z). KlEstimate forces either.
//   iwae     log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q (Burda et al. 2016), K in chunks so memory
//            stays bounded for K in the thousands; a lower bound on log p(x) that tightens with K, and the
//            importance-sampled log-likelihood estimate at large K
//   loss     the training objective over a batch: -ELBO (with beta, KL warm-up and free bits) or -IWAE
//   kl_per_dim, latent_report   the KL of each latent dim and the active units (Burda et al. 2016)
// Non-amortized inference passes its own q (per-example parameters) to the overloads that take one.
// NOTE: spell the ELBO models::elbo: with using namespace elbo, the bare name elbo is also the namespace.
#include <functional>
#include <vector>

#include "model.h"

namespace elbo::models {

enum class KlEstimate { automatic, analytic, monte_carlo };

struct ElboOptions {
  int samples = 1;                        // reparameterized samples of z per example (averaged)
  KlEstimate kl = KlEstimate::automatic;  // closed form when registered for (q, prior), else Monte Carlo
};

struct ElboTerms {
  Tensor elbo, log_px, kl;  // [B] each; elbo = log_px - kl
};

ElboTerms elbo(const LatentModel& m, const dist::AnyDistribution& q, const Tensor& x, Generator& gen,
               const ElboOptions& o = {});
ElboTerms elbo(const AmortizedModel& m, const Tensor& x, Generator& gen, const ElboOptions& o = {});

// [B]. chunk: samples per example scored at once.
Tensor iwae(const LatentModel& m, const dist::AnyDistribution& q, const Tensor& x, Generator& gen, int k,
            int chunk = 250);
Tensor iwae(const AmortizedModel& m, const Tensor& x, Generator& gen, int k, int chunk = 250);

struct Objective {
  double beta = 1.0;       // weight on the KL (after warm-up)
  int warmup_steps = 0;    // the KL weight ramps linearly from 0 to beta over these optimizer steps
  double free_bits = 0.0;  // per latent dim: KL_j counted as max(free_bits, batch mean of KL_j) (Kingma et al. 2016)
  int samples = 1;         // reparameterized samples in the ELBO estimate
  int iw = 0;              // > 1: train on the K-sample importance-weighted bound instead
  KlEstimate kl = KlEstimate::automatic;
};

// The loss to minimize for batch x at optimizer step `step` (mean over the batch). The q overload is for
// posteriors that do not come from an encoder.
Tensor loss(const AmortizedModel& m, const Tensor& x, Generator& gen, const Objective& obj, int64_t step);
Tensor loss(const LatentModel& m, const dist::AnyDistribution& q, const Tensor& x, Generator& gen, const Objective& obj,
            int64_t step);

// KL(q || p) per latent dim, [B, L]: the closed form of the base distributions of two Independent
// distributions (a factorized q and prior). An Error names the families otherwise.
Tensor kl_per_dim(const dist::AnyDistribution& q, const dist::AnyDistribution& p);

// Mean over the rows of x, in batches, without gradients: `score` maps a batch to per-example figures [b].
// progress(done, mean so far) after each batch, when given.
double mean_over(const Tensor& x, int64_t batch, const std::function<Tensor(const Tensor&)>& score,
                 const std::function<void(int64_t, double)>& progress = {});

using dist::location;  // a point of q (distributions/any.h): reconstructions and active units use it

struct LatentReport {
  int64_t active_units = 0;         // dims with Var_x(location of q(z|x)_j) > threshold
  std::vector<bool> active;         // that test, per dim
  std::vector<double> kl_per_dim;   // mean over x of KL(q_j || p_j); empty when q or p is not factorized
};
LatentReport latent_report(const AmortizedModel& m, const Tensor& x, double threshold = 0.01, int64_t batch = 500);

// Per stochastic layer of a hierarchical model (posterior and prior dist::Chain over one layout; any other
// model is one layer): the KL term E_q[log q(z_i | .) - log p(z_i | .)] by Monte Carlo (one z ~ q per
// example, mean over x), and the active units by Burda et al.'s criterion, Var_x E_q[z_ij | z_{i-1}] >
// threshold with z_{i-1} drawn from q (their code's statistic; the mean of q(z_1 | x) for the first).
struct LayerReport {
  std::vector<int64_t> sizes, active_units;
  std::vector<double> kl;
};
LayerReport layer_report(const AmortizedModel& m, const Tensor& x, Generator& gen, double threshold = 0.01,
                         int64_t batch = 500);

}  // namespace elbo::models
