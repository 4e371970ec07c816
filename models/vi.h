#pragma once
// Non-amortized variational inference: q(z | x_i) = N(mu_i, exp(logvar_i)) with free parameters per data
// point, the baseline that amortization (an encoder) improves on.
//   LocalPosteriors: (mu_i, logvar_i) for every training example, updated sparsely with per-row Adam
//     (only the rows of the current batch move, each with its own step count).
//   DecoderModel: the VAE's decoder alone (same parameter names: fc3/fc4, or decoder.*).
//   optimize_q: test-time per-example optimization of q under a fixed decoder.
//   amortization_gap: Cremer, Li and Duvenaud (2018): log p(x) - ELBO(q*) is the approximation gap,
//     ELBO(q*) - ELBO(q_encoder) the amortization gap, per test example, with standard errors.
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vae.h"

namespace elbo::models {

using DecodeFn = std::function<Tensor(const Tensor& z)>;

// ELBO per example [B] for q = N(mu, exp(logvar)) with `samples` reparameterized samples (averaged).
Tensor elbo_of(const DecodeFn& decode, const Likelihood& lik, const Tensor& x, const Tensor& mu, const Tensor& logvar,
               Generator& gen, int samples = 1);
// Importance-weighted log p(x) estimate with proposal q, K samples in chunks: [B].
Tensor iwae_of(const DecodeFn& decode, const Likelihood& lik, const Tensor& x, const Tensor& mu, const Tensor& logvar,
               Generator& gen, int k, int chunk = 250);

struct QParams {
  Tensor mu, logvar;  // [B, L]
};
// Maximizes the ELBO of each example over (mu, logvar) with Adam, decoder fixed; starts from init.
QParams optimize_q(const DecodeFn& decode, const Likelihood& lik, const Tensor& x, const QParams& init, Generator& gen,
                   int steps, double lr = 1e-2);

class DecoderModel : public nn::Module {
 public:
  DecoderModel(const VaeOptions& o, Generator& gen);
  Tensor decode(const Tensor& z) const;
  const VaeOptions& options() const { return opt_; }
  std::string describe() const;

 private:
  VaeOptions opt_;
  nn::Linear *fc3_ = nullptr, *fc4_ = nullptr;
  nn::Sequential* decoder_ = nullptr;
};

class LocalPosteriors {
 public:
  LocalPosteriors(int64_t n, int64_t latent);
  // Rows `ids` as fresh leaves requiring grad; after backward, step() applies Adam to those rows.
  QParams gather(const std::vector<int64_t>& ids);
  void step(const std::vector<int64_t>& ids, const QParams& rows, double lr);
  int64_t size() const { return mu_.shape()[0]; }
  // Everything a checkpoint needs to continue bitwise: the rows, their Adam moments and step counts, named
  // mu, logvar, adam_m, adam_v, steps. load_state checks names and shapes (`file` names the source in errors).
  std::vector<std::pair<std::string, Tensor>> state() const;
  void load_state(const std::map<std::string, Tensor>& state, const std::string& file);

 private:
  Tensor mu_, logvar_, m_, v_;   // m_, v_: Adam moments for [mu, logvar] rows, [N, 2L]
  std::vector<int64_t> steps_;  // per-row Adam step counts
};

struct GapReport {
  double encoder_elbo, optimized_elbo, loglik;  // means over examples
  double approximation_gap, amortization_gap;   // means
  double approximation_se, amortization_se;     // standard errors of the means
  double encoder_ms_per_example, optimize_ms_per_example;
  int64_t examples;
};
// For a trained VAE: per test example the encoder's ELBO, the ELBO of q optimized from the encoder's
// output (steps Adam steps), and the IWAE estimate with K samples using the optimized q as proposal.
// ELBOs average `samples` draws to keep their Monte Carlo noise below the gaps.
GapReport amortization_gap(const VAE& vae, const Tensor& x, Generator& gen, int steps, int k, int samples = 100,
                           int64_t batch = 500);

}  // namespace elbo::models
