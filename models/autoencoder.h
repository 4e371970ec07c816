#pragma once
// A plain (deterministic) autoencoder, z = g(x), trained on the VAE's log-likelihood log p(x | z) so the
// two compare directly. It reconstructs, but nothing makes its codes look like N(0, I): decoding
// z ~ N(0, I) (sample_images) shows that it does not generate. Networks: networks.h's code encoder
// (mlp fc1, fc2; conv encoder.* with a Linear(64*7*7, L) head) and the VAE's decoder.
#include "vae.h"

namespace elbo::models {

class Autoencoder : public nn::Module {
 public:
  Autoencoder(const VaeOptions& o, Generator& gen);
  Tensor encode(const Tensor& x) const { return encoder_.forward(x); }  // [B, L]
  const Decoder& decoder() const { return decoder_; }
  Tensor log_likelihood(const Tensor& x) const;  // log p(x | z = encode(x)), [B]
  Tensor sample_images(int64_t n, Generator& gen) const;
  Tensor reconstruct(const Tensor& x) const;
  const VaeOptions& options() const { return opt_; }
  std::string describe() const;

 private:
  VaeOptions opt_;
  CodeEncoder& encoder_;
  Decoder& decoder_;
};

}  // namespace elbo::models
