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

}  // namespace elbo::nn
