#pragma once
// Variational autoencoders. p(z) = N(0, I); q(z | x) = N(mu, diag(sigma^2)) from the encoder, with
// sigma = exp(logvar / 2): the encoder's second head emits the log-variance, as PyTorch's examples/vae
// does, so checkpoints load there; exp keeps sigma positive without clipping and makes the analytic KL
// a polynomial in mu and exp(logvar). p(x | z) is one of likelihood.h's observation models.
//   MLP (default, PyTorch examples/vae): fc1 D->H, fc21 / fc22 H->L (mu / logvar), fc3 L->H, fc4 H->D'.
//   Conv: encoder = Sequential(Conv2d(1,32,4,2,1), ReLU, Conv2d(32,64,4,2,1), ReLU, Flatten,
//         Linear(64*7*7, 2L)), decoder = Sequential(Linear(L, 64*7*7), ReLU, Unflatten(1, [64, 7, 7]),
//         ConvTranspose2d(64,32,4,2,1), ReLU, ConvTranspose2d(32,C,4,2,1)); mu / logvar are the halves.
// All per-example figures are in nats, per example [B].
#include <memory>
#include <string>

#include "../autograd/ops.h"
#include "../nn/nn.h"
#include "likelihood.h"

namespace elbo::models {

struct VaeOptions {
  std::string arch = "mlp";  // mlp | conv
  int64_t height = 28, width = 28;
  int64_t hidden = 400;  // MLP hidden units
  int64_t latent = 20;
  Likelihood likelihood;
};

// The conv architecture's two stacks (above), shared with the autoencoder: the encoder maps
// [B, 1, 28, 28] to [B, out_features]; the decoder maps [B, latent] to [B, channels, 28, 28].
nn::Sequential conv_encoder(int64_t out_features, Generator& gen);
nn::Sequential conv_decoder(int64_t latent, int64_t channels, Generator& gen);
// The conv decoder's [B, C, H, W] output as the rows `likelihood` reads: [B, H*W*C] with each pixel's
// C levels contiguous for the categorical likelihood, [B, C*H*W] otherwise.
Tensor conv_rows(const Tensor& y, const Likelihood& likelihood);

struct Posterior {
  Tensor mu, logvar;  // [B, L]
  Tensor std() const { return exp(0.5 * logvar); }
};

struct ElboTerms {
  Tensor elbo, log_px, kl;  // [B] each; elbo = log_px - kl
};

struct TrainObjective {
  double beta = 1.0;       // weight on KL (after warm-up)
  int warmup_steps = 0;    // KL weight ramps linearly from 0 to beta over these steps
  double free_bits = 0.0;  // per latent dim: KL_j counted as max(free_bits, batch mean of KL_j)
  int samples = 1;         // reparameterized samples in the ELBO estimate
  int iw = 0;              // > 1: train on the K-sample importance-weighted bound instead
};

class VAE : public nn::Module {
 public:
  VAE(const VaeOptions& o, Generator& gen);

  Posterior encode(const Tensor& x) const;  // x [B, D] in [0, 1]
  Tensor decode(const Tensor& z) const;     // decoder output for the likelihood, [B, D']
  ElboTerms elbo(const Tensor& x, Generator& gen, int samples = 1) const;
  // Importance-weighted bound log (1/K) sum_k p(x, z_k) / q(z_k | x), z_k ~ q; batched over k in chunks
  // so memory stays bounded for K up to thousands. [B].
  Tensor iwae(const Tensor& x, Generator& gen, int k, int chunk = 250) const;
  // The loss to minimize for one batch at optimizer step `step` (mean over the batch, in nats).
  Tensor loss(const Tensor& x, Generator& gen, const TrainObjective& obj, int64_t step) const;
  // Decoder means for z ~ N(0, I): [n, D] in [0, 1].
  Tensor sample_images(int64_t n, Generator& gen) const;
  Tensor reconstruct(const Tensor& x) const;  // decoder means at z = mu(x)

  const VaeOptions& options() const { return opt_; }
  std::string describe() const;  // e.g. "mlp VAE 784-400-20, bernoulli likelihood"

 private:
  VaeOptions opt_;
  // mlp
  nn::Linear *fc1_ = nullptr, *fc21_ = nullptr, *fc22_ = nullptr, *fc3_ = nullptr, *fc4_ = nullptr;
  // conv
  nn::Sequential *encoder_ = nullptr, *decoder_ = nullptr;
};

// KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over latent dims: [B]; per dim with per_dim.
Tensor kl_standard_normal(const Posterior& q, bool per_dim = false);

}  // namespace elbo::models
