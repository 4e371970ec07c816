#pragma once
// Non-amortized variational inference: q(z | x_i) = N(loc_i, exp(logvar_i)) with free parameters per data
// point, the baseline that amortization (an encoder) improves on. Every figure comes from estimators.h.
//   DecoderModel: p(z) = N(0, I) and the VAE's decoder alone (same parameter names: fc3/fc4, or decoder.*).
//   LocalPosteriors: (loc_i, logvar_i) for every training example, updated with optim::RowAdam, which
//     moves only the rows of the current batch, each with its own step count.
//   optimize_q: test-time per-example optimization of q under a fixed model.
//   amortization_gap: Cremer, Li and Duvenaud (2018): log p(x) - ELBO(q*) is the approximation gap,
//     ELBO(q*) - ELBO(q_encoder) the amortization gap, per test example, with standard errors; q* is the
//     best member of the VAE's own family (diagonal, full, low rank, or flow) found per example.
#include <map>
#include <string>
#include <vector>

#include "vae.h"

namespace elbo::models {

class DecoderModel : public nn::Module, public LatentModel {
 public:
  DecoderModel(const VaeOptions& o, Generator& gen);
  dist::AnyDistribution prior() const override { return prior_; }
  dist::AnyDistribution likelihood(const Tensor& z) const override { return decoder_.forward(z); }
  const Decoder& decoder() const { return decoder_; }
  const VaeOptions& options() const { return opt_; }
  std::string describe() const;

 private:
  VaeOptions opt_;
  Decoder& decoder_;
  dist::AnyDistribution prior_;
};

// A diagonal Normal's parameters for a batch, as leaves the caller optimizes.
struct QParams {
  Tensor loc, logvar;  // [B, L]
  dist::AnyDistribution q() const { return diagonal_normal(loc, logvar); }
};

// Maximizes each example's ELBO over (loc, logvar) with Adam at rate lr, the model fixed; starts from
// init (not modified) and returns the optimized parameters, detached.
QParams optimize_q(const LatentModel& m, const Tensor& x, const QParams& init, Generator& gen, int steps,
                   double lr = 1e-2);

// The same for the VAE's own posterior family: every per-example output of the encoder (loc, logvar, the
// full or low-rank head's, and a flow's context, whose linear heads then give each example its own flow
// parameters) becomes a free leaf, started at init and optimized with the model fixed.
Encoder::Params optimize_posterior(const VAE& vae, const Tensor& x, const Encoder::Params& init, Generator& gen,
                                   int steps, double lr = 1e-2);

class LocalPosteriors {
 public:
  LocalPosteriors(int64_t n, int64_t latent, double lr);
  // q(z | x_i) for the rows ids, differentiable with respect to the table.
  dist::AnyDistribution q(const std::vector<int64_t>& ids) const;
  // One RowAdam step on the rows ids from the table's gradients, which it then clears.
  void step(const std::vector<int64_t>& ids);
  void zero_grad() { opt_.zero_grad(); }
  int64_t size() const { return loc_.size(0); }
  // Everything a checkpoint needs to continue bitwise: the tables "loc" and "logvar" and the optimizer's
  // state under "optim.". load_state checks every entry before it changes anything (`file` names the
  // source in errors).
  nn::NamedTensors state() const;
  void load_state(const std::map<std::string, Tensor>& state, const std::string& file);

 private:
  Tensor loc_, logvar_;  // [N, L]
  optim::RowAdam opt_;
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
