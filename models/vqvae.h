#pragma once
// The VQ-VAE of van den Oord et al. 2017: a convolutional encoder to a grid of vectors z_e, each replaced
// by its nearest code of a learned codebook (nn::VectorQuantizer), and a convolutional decoder of the
// quantized grid to p(x | z_q) by one of the zoo's likelihood heads (likelihood.h; not `flow`).
//
//   encoder  Conv2d(C, H, 4, 2, 1) ReLU, then for downsample 4 Conv2d(H, H, 4, 2, 1) ReLU (for 2:
//            Conv2d(H, H, 3, 1, 1) ReLU), then Conv2d(H, D, 1): [N, D, h, w], h = height / downsample
//   decoder  Conv2d(D, H, 3, 1, 1) ReLU, then for downsample 4 ConvTranspose2d(H, H, 4, 2, 1) ReLU, then
//            ConvTranspose2d(H, planes, 4, 2, 1): the likelihood's planes at the image's size
//
// The posterior q(z | x) puts all its mass on the nearest codes, so with a uniform prior over the K codes
// of each of the h w positions the ELBO is log p(x | z_q) - h w log K: a bound on log p(x), and the
// reason the model wants a learned prior over its codes (the second stage of the paper).
#include <memory>

#include "../nn/conv.h"
#include "../nn/quantize.h"
#include "../nn/sequential.h"
#include "likelihood.h"

namespace elbo::models {

struct VqVaeOptions {
  int64_t height = 28, width = 28, channels = 1;  // the images
  int64_t hidden = 64;                            // the convolutions' channels
  int64_t downsample = 4;                         // 4 or 2: the code grid is (height / 4) x (width / 4) or / 2
  int64_t codes = 128;                            // K
  int64_t code_dim = 16;                          // D
  nn::VectorQuantizerOptions quantizer{};
  LikelihoodOptions likelihood{};
};

struct VqVaeOutput {
  Tensor out;             // the decoder's outputs as rows, [N, out_features]: the likelihood's parameters
  nn::Quantized q;        // codes [N, h, w], z_q [N, h, w, D], the quantizer's loss and usage
  Tensor log_likelihood;  // log p(x | z_q), [N]
};

class VqVae : public nn::Module {
 public:
  // An elbo::ValueError when the images' size is not a multiple of the downsampling (naming both).
  VqVae(const VqVaeOptions& o, Generator& gen);
  Tensor encode(const Tensor& x) const;        // x [N, C H W] -> z_e [N, h, w, D] (channels last)
  Tensor decode(const Tensor& z_q) const;      // [N, h, w, D] -> the likelihood's parameters [N, out_features]
  VqVaeOutput forward(const Tensor& x);        // in training mode the EMA codebook moves
  Tensor codes(const Tensor& x) const;         // i64 [N, h, w], the nearest codes (nothing moves)
  Tensor decode_codes(const Tensor& codes) const;  // i64 [N, h, w] -> [N, out_features]
  dist::AnyDistribution likelihood(const Tensor& out) const { return head_->distribution(out); }
  Tensor images(const Tensor& out) const { return head_->mean(out); }  // the decoder's mean, in [0, 1]
  Tensor reconstruct(const Tensor& x) const;   // images of decode(quantize(encode(x)))
  // log p(x | z_q) - h w log K per row: the ELBO under a uniform prior over the codes
  Tensor elbo(const Tensor& x) const;
  nn::VectorQuantizer& quantizer() { return *vq_; }
  const nn::VectorQuantizer& quantizer() const { return *vq_; }
  const Likelihood& head() const { return *head_; }
  int64_t grid_height() const { return opt_.height / opt_.downsample; }
  int64_t grid_width() const { return opt_.width / opt_.downsample; }
  const VqVaeOptions& options() const { return opt_; }
  std::string describe() const;  // e.g. "VQ-VAE 28x28 -> 7x7 codes of 128 x 16, bernoulli likelihood"

 private:
  VqVaeOptions opt_;
  std::shared_ptr<const Likelihood> head_;
  nn::Sequential* encoder_ = nullptr;
  nn::VectorQuantizer* vq_ = nullptr;
  nn::Sequential* decoder_ = nullptr;
};

}  // namespace elbo::models
