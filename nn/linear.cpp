#include "nn/linear.h"

#include <cmath>

#include "autograd/ops.h"

namespace elbo::nn {

Linear::Linear(int64_t in, int64_t out, bool bias, Generator& gen) : in_(in), out_(out) {
  ELBO_CHECK(in > 0 && out > 0, "Linear: in_features {} and out_features {} must be positive", in, out);
  weight_ = register_parameter("weight", init::kaiming_uniform_(empty({out, in}), gen, std::sqrt(5.0)));
  const double b = 1.0 / std::sqrt(double(in));
  if (bias) bias_ = register_parameter("bias", init::uniform_(empty({out}), -b, b, gen));
}

Tensor Linear::forward(const Tensor& x) const { return linear(x, weight_, bias_); }

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_, out_, bias_.defined());
}

MaskedLinear::MaskedLinear(int64_t in, int64_t out, Tensor mask, Generator& gen) : in_(in), out_(out) {
  ELBO_CHECK(in > 0 && out > 0, "MaskedLinear: in_features {} and out_features {} must be positive", in, out);
  ELBO_CHECK_SHAPE(mask.defined() && mask.shape() == Shape({out, in}),
                   "MaskedLinear: mask must be [out_features, in_features] = [{}, {}], got {}", out, in,
                   mask.defined() ? mask.shape() : Shape{});
  const Tensor m = mask.detach().to(DType::f64);
  ELBO_CHECK_VALUE(count_outside(m * (1.0 - m), 0, 0) == 0, "MaskedLinear: mask must hold only 0 and 1");
  weight_ = register_parameter("weight", init::kaiming_uniform_(empty({out, in}), gen, std::sqrt(5.0)));
  const double b = 1.0 / std::sqrt(double(in));
  bias_ = register_parameter("bias", init::uniform_(empty({out}), -b, b, gen));
  mask_ = register_buffer("mask", mask.detach().to(DType::f32));
}

Tensor MaskedLinear::forward(const Tensor& x) const {
  return linear(x, weight_ * (mask_.dtype() == weight_.dtype() ? mask_ : mask_.to(weight_.dtype())), bias_);
}

std::string MaskedLinear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, masked={}", in_, out_, in_ * out_ - int64_t(sum(mask_).item()));
}

}  // namespace elbo::nn
