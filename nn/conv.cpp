#include "nn/conv.h"

#include <cmath>

#include "autograd/ops.h"

namespace elbo::nn {
namespace {

void check_settings(const char* layer, int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding) {
  ELBO_CHECK(in > 0 && out > 0 && k > 0,
             "{}: in_channels {}, out_channels {} and kernel_size {} must be positive", layer, in, out, k);
  ELBO_CHECK(stride > 0 && padding >= 0, "{}: stride {} must be >= 1 and padding {} >= 0", layer, stride, padding);
}

// PyTorch's reset_parameters: kaiming_uniform(a = sqrt(5)) on the weight, then U(+-1/sqrt(fan_in)) bias.
Tensor init_weight(const Shape& shape, Generator& gen) {
  return init::kaiming_uniform_(empty(shape), gen, std::sqrt(5.0));
}
Tensor init_bias(int64_t n, const Shape& weight_shape, Generator& gen) {
  const double b = 1.0 / std::sqrt(double(init::fan_in_and_fan_out(weight_shape).first));
  return init::uniform_(empty({n}), -b, b, gen);
}

}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, bool bias, Generator& gen)
    : in_(in), out_(out), k_(k), stride_(stride), padding_(padding) {
  check_settings("Conv2d", in, out, k, stride, padding);
  weight_ = register_parameter("weight", init_weight({out, in, k, k}, gen));
  if (bias) bias_ = register_parameter("bias", init_bias(out, weight_.shape(), gen));
}

Tensor Conv2d::forward(const Tensor& x) const { return conv2d(x, weight_, bias_, stride_, padding_); }

std::string Conv2d::extra_repr() const {
  return fmt::format("{}, {}, kernel_size=({}, {}), stride=({}, {}), padding=({}, {}), bias={}", in_, out_, k_, k_,
                     stride_, stride_, padding_, padding_, bias_.defined());
}

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding,
                                 int64_t output_padding, bool bias, Generator& gen)
    : in_(in), out_(out), k_(k), stride_(stride), padding_(padding), output_padding_(output_padding) {
  check_settings("ConvTranspose2d", in, out, k, stride, padding);
  ELBO_CHECK(output_padding >= 0 && output_padding < stride,
             "ConvTranspose2d: output_padding {} must be >= 0 and smaller than stride {}", output_padding, stride);
  weight_ = register_parameter("weight", init_weight({in, out, k, k}, gen));
  if (bias) bias_ = register_parameter("bias", init_bias(out, weight_.shape(), gen));
}

Tensor ConvTranspose2d::forward(const Tensor& x) const {
  return conv_transpose2d(x, weight_, bias_, stride_, padding_, output_padding_);
}

std::string ConvTranspose2d::extra_repr() const {
  std::string s = fmt::format("{}, {}, kernel_size=({}, {}), stride=({}, {}), padding=({}, {})", in_, out_, k_, k_,
                              stride_, stride_, padding_, padding_);
  if (output_padding_) s += fmt::format(", output_padding=({}, {})", output_padding_, output_padding_);
  return s + fmt::format(", bias={}", bias_.defined());
}

}  // namespace elbo::nn
