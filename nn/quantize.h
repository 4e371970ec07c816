#pragma once
// VectorQuantizer: the discrete bottleneck of the VQ-VAE (van den Oord et al. 2017, "Neural Discrete
// Representation Learning"). Each vector z_e along the input's last dimension becomes its nearest code
// e_k of a codebook [K, D]:
//
//   k = argmin_j ||z_e - e_j||^2 = argmin_j (||e_j||^2 - 2 z_e . e_j)   (one GEMM; ||z_e||^2 is the same for
//                                                                          every j and left out)
//   z_q = straight_through(z_e, e_k)                                    (value e_k, gradient of z_e)
//   loss = commitment * mean (z_e - sg(e_k))^2  [+ mean (sg(z_e) - e_k)^2 when the codebook is learned by it]
//
// The codebook is learned either by the loss's second term (ema_decay = 0: `embedding` is a parameter) or
// by exponential moving averages (the paper's appendix A.1; `embedding` a buffer), which in training mode
// each forward updates as sonnet's VectorQuantizerEMA does, moving averages debiased:
//   N_k <- g N_k + (1 - g) n_k,  m_k <- g m_k + (1 - g) sum of the batch's z_e assigned to k,
//   N, m averaged = N, m / (1 - g^t) after t updates;  N_k smoothed = (N_k + eps) / (n + K eps) n, n = sum N;
//   e_k = m_k / N_k smoothed.
// With restart_after = R > 0, a code no vector was assigned to in R training forwards in a row is moved
// onto a vector of the batch drawn at random (its moving averages set to that vector, count 1). The draw
// depends only on the layer's seed, the forward's number and the code, so a run resumed from a
// checkpoint restarts the same codes onto the same vectors.
//
// Names, as the torch twin's state_dict: embedding [K, D]; with EMA the buffers ema_count [K] and
// ema_weight [K, D] (the hidden, not yet debiased averages); always steps (i64 [], training forwards) and
// unused_steps (i64 [K]).
#include "../autograd/random.h"
#include "init.h"
#include "module.h"

namespace elbo::nn {

struct VectorQuantizerOptions {
  double commitment = 0.25;   // beta: the weight of the encoder's commitment term
  double ema_decay = 0.99;    // gamma in [0, 1); 0: the codebook is a parameter learned by the codebook loss
  double epsilon = 1e-5;      // Laplace smoothing of the moving-average counts
  int64_t restart_after = 0;  // training forwards a code may go unused before it is restarted; 0: never
};

struct Quantized {
  Tensor z_q;         // the quantized vectors, z_e's shape, with the straight-through gradient to z_e
  Tensor codes;       // i64, z_e's shape without its last dimension
  Tensor loss;        // scalar: commitment term (+ codebook term without EMA)
  Tensor counts;      // i64 [K]: how many of this batch's vectors each code took
  double perplexity;  // exp of the entropy of the batch's code frequencies: K when all are used evenly, 1 for one
};

class VectorQuantizer : public Module {
 public:
  // The codebook starts uniform in +-sqrt(3 / D) (variance scaling by the fan-in D, as sonnet's), drawn from
  // gen, which also gives the restarts' seed.
  VectorQuantizer(int64_t num_codes, int64_t dim, VectorQuantizerOptions o = {}, Generator& gen = default_generator());
  // z_e [..., D], floating. In training mode with EMA the codebook moves (after the codes are chosen), and
  // restarts happen; in eval mode nothing changes.
  Quantized forward(const Tensor& z_e);
  Quantized operator()(const Tensor& z_e) { return forward(z_e); }
  Tensor nearest(const Tensor& z_e) const;    // the codes alone, i64 [...]
  Tensor lookup(const Tensor& codes) const;   // i64 codes [...] -> their vectors [..., D] (no gradient with EMA)
  const Tensor& codebook() const { return embedding_; }
  int64_t num_codes() const { return k_; }
  int64_t dim() const { return d_; }
  const VectorQuantizerOptions& options() const { return o_; }
  std::string extra_repr() const override;

 private:
  void update_ema(const Tensor& flat, const Tensor& codes, const Tensor& counts);
  void restart(const Tensor& flat, const Tensor& counts);
  int64_t k_, d_;
  VectorQuantizerOptions o_;
  uint64_t restart_seed_;
  Tensor embedding_, ema_count_, ema_weight_, steps_, unused_steps_;
};

}  // namespace elbo::nn
