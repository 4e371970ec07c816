#include "nn/activation.h"

#include "autograd/ops.h"

namespace elbo::nn {

Tensor ReLU::forward(const Tensor& x) const { return relu(x); }
Tensor LeakyReLU::forward(const Tensor& x) const { return leaky_relu(x, slope_); }
std::string LeakyReLU::extra_repr() const { return fmt::format("negative_slope={}", slope_); }
Tensor ELU::forward(const Tensor& x) const { return elu(x, alpha_); }
std::string ELU::extra_repr() const { return fmt::format("alpha={}", alpha_); }
Tensor Tanh::forward(const Tensor& x) const { return tanh(x); }
Tensor Sigmoid::forward(const Tensor& x) const { return sigmoid(x); }
Tensor Softplus::forward(const Tensor& x) const { return softplus(x); }
Tensor GELU::forward(const Tensor& x) const { return gelu(x, tanh_); }
std::string GELU::extra_repr() const { return tanh_ ? "approximate='tanh'" : ""; }
Tensor SiLU::forward(const Tensor& x) const { return silu(x); }

}  // namespace elbo::nn
