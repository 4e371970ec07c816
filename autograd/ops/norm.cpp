// Normalization layers' and smooth activations' math, composed from catalog ops so every gradient comes
// from the tape (torch's formulas; the tests check values and gradients against torch).
#include <cmath>
#include <numbers>

#include "autograd/ops/common.h"

namespace elbo {

using detail::Dims;

// exact: x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; tanh: x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  if (tanh_approximation) {
    const double c = std::sqrt(2.0 / std::numbers::pi);
    return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * square(x))));
  }
  return 0.5 * x * (1.0 + erf(x * (1.0 / std::numbers::sqrt2)));
}

Tensor silu(const Tensor& x) { return x * sigmoid(x); }

Tensor layer_norm(const Tensor& x, IntList normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  const int64_t k = int64_t(normalized_shape.size());
  bool fits = k >= 1 && x.dim() >= k;
  for (int64_t i = 0; fits && i < k; ++i) fits = x.size(x.dim() - k + i) == normalized_shape[size_t(i)];
  ELBO_CHECK_SHAPE(fits, "layer_norm: input {} does not end in normalized_shape {}", x.shape(), normalized_shape.vec());
  for (const Tensor* p : {&weight, &bias})
    ELBO_CHECK_SHAPE(!p->defined() || p->shape() == normalized_shape.vec(),
                     "layer_norm: {} {} must have normalized_shape {}", p == &weight ? "weight" : "bias", p->shape(),
                     normalized_shape.vec());
  Dims dims;
  for (int64_t i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
  const Tensor mu = mean(x, dims, true), centred = x - mu;
  Tensor y = centred / sqrt(mean(square(centred), dims, true) + eps);
  if (weight.defined()) y = y * weight;
  if (bias.defined()) y = y + bias;
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  ELBO_CHECK_SHAPE(x.dim() >= 2, "batch_norm: input {} must be [N, C, ...]", x.shape());
  const int64_t c = x.size(1);
  for (const Tensor* p : {&running_mean, &running_var, &weight, &bias})
    ELBO_CHECK_SHAPE(!p->defined() || p->shape() == Shape{c}, "batch_norm: a parameter or statistic of shape {} "
                     "does not match the {} channels of input {}", p->shape(), c, x.shape());
  Dims dims{0}, view(size_t(x.dim()), 1);  // reduce over all but dim 1; per-channel tensors viewed [1, C, 1...]
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  view[1] = c;
  const auto per_channel = [&](const Tensor& t) { return reshape(t, view); };
  Tensor y;
  if (training) {
    const int64_t n = x.numel() / c;
    ELBO_CHECK_VALUE(n > 1, "batch_norm: training needs more than one value per channel, got input {}", x.shape());
    const Tensor mu = mean(x, dims, true), centred = x - mu, var = mean(square(centred), dims, true);
    y = centred / sqrt(var + eps);
    if (running_mean.defined() && running_var.defined()) {  // torch: running = (1 - m) running + m batch
      NoGradGuard ng;
      running_mean.copy_(running_mean * (1 - momentum) + reshape(mu.detach(), {c}) * momentum);
      running_var.copy_(running_var * (1 - momentum) + reshape(var.detach(), {c}) * (momentum * double(n) / double(n - 1)));
    }
  } else {
    ELBO_CHECK(running_mean.defined() && running_var.defined(), "batch_norm: evaluation needs the running statistics");
    y = (x - per_channel(running_mean.detach())) / sqrt(per_channel(running_var.detach()) + eps);
  }
  if (weight.defined()) y = y * per_channel(weight);
  if (bias.defined()) y = y + per_channel(bias);
  return y;
}

Tensor embedding(const Tensor& indices, const Tensor& weight) {
  ELBO_CHECK(indices.defined() && indices.dtype() == DType::i64, "embedding: indices must be an i64 tensor, got {}",
             indices.defined() ? fmt::format("{} {}", indices.dtype(), indices.shape()) : "undefined");
  ELBO_CHECK_SHAPE(weight.dim() == 2, "embedding: weight {} must be [num_embeddings, embedding_dim]", weight.shape());
  Dims out = detail::dims_of(indices.shape());
  out.push_back(weight.size(1));
  return reshape(index_select(weight, 0, reshape(indices, {-1})), out);
}

Tensor straight_through(const Tensor& z_e, const Tensor& z_q) {
  ELBO_CHECK(z_e.defined() && z_q.defined(), "straight_through: undefined input");
  ELBO_CHECK_SHAPE(z_e.shape() == z_q.shape() && z_e.dtype() == z_q.dtype(),
                   "straight_through: z_e {} {} and z_q {} {} must have one shape and dtype", z_e.dtype(), z_e.shape(),
                   z_q.dtype(), z_q.shape());
  return z_e + (z_q - z_e).detach();
}

}  // namespace elbo
