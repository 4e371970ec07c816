#pragma once
// A plain (deterministic) autoencoder, z = g(x), trained on the same log-likelihood as the VAE so the two
// compare directly. It reconstructs, but nothing makes its codes look like N(0, I): decoding z ~ N(0, I)
// (sample_images) shows that it does not generate.
//   MLP: fc1 D->H, fc2 H->L, fc3 L->H, fc4 H->D'.  Conv: the conv VAE's encoder with a Linear(64*7*7, L)
//   head and the same decoder.
#include "likelihood.h"
#include "vae.h"

namespace elbo::models {

class Autoencoder : public nn::Module {
 public:
  Autoencoder(const VaeOptions& o, Generator& gen);
  Tensor encode(const Tensor& x) const;  // [B, L]
  Tensor decode(const Tensor& z) const;  // decoder output for the likelihood
  Tensor log_likelihood(const Tensor& x) const;  // log p(x | decode(encode(x))), [B]
  Tensor sample_images(int64_t n, Generator& gen) const;
  Tensor reconstruct(const Tensor& x) const;
  const VaeOptions& options() const { return opt_; }
  std::string describe() const;

 private:
  VaeOptions opt_;
  nn::Linear *fc1_ = nullptr, *fc2_ = nullptr, *fc3_ = nullptr, *fc4_ = nullptr;
  nn::Sequential *encoder_ = nullptr, *decoder_ = nullptr;
};

}  // namespace elbo::models
