#pragma once
// Convolution layers over NCHW images, as torch.nn.Conv2d and torch.nn.ConvTranspose2d (square kernels,
// one stride and padding for both axes, no dilation or groups).
//   Conv2d.weight          [out, in, k, k], fan_in = in * k * k
//   ConvTranspose2d.weight [in, out, k, k], fan_in = out * k * k (torch computes it from dim 1)
// Weights and bias default to U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch's reset_parameters.
#include "init.h"
#include "module.h"

namespace elbo::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         bool bias = true, Generator& gen = default_generator());

  Tensor forward(const Tensor& x) const;  // [N, in, H, W] -> [N, out, H', W']

  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t in_, out_, k_, stride_, padding_;
  Tensor weight_, bias_;
};

class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
                  int64_t padding = 0, int64_t output_padding = 0, bool bias = true,
                  Generator& gen = default_generator());

  // [N, in, H, W] -> [N, out, (H - 1) * stride - 2 * padding + k + output_padding, ...]
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }

 private:
  int64_t in_, out_, k_, stride_, padding_, output_padding_;
  Tensor weight_, bias_;
};

}  // namespace elbo::nn
