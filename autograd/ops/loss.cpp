// Losses, composed from stable primitives (their gradients come for free).
#include "autograd/ops/common.h"

namespace elbo {
namespace {
Tensor reduce(const Tensor& l, Reduction r) {
  switch (r) {
    case Reduction::none: return l;
    case Reduction::sum: return sum(l);
    case Reduction::mean: return mean(l);
  }
  return l;
}
}  // namespace

// BCE(x, t) = -[t log sigmoid(x) + (1 - t) log sigmoid(-x)] = softplus(x) - x t, which never overflows:
// softplus(x) = max(x, 0) + log1p(exp(-|x|)). d/dx = sigmoid(x) - t.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction r) {
  ELBO_CHECK_SHAPE(logits.shape() == target.shape(),
                   "binary_cross_entropy_with_logits: logits {} and target {} must have the same shape",
                   logits.shape(), target.shape());
  const DType d = detail::promote("binary_cross_entropy_with_logits", logits, target);
  const Tensor x = logits.to(d), t = target.to(d);
  Tensor l = detail::binary_kernel("binary_cross_entropy_with_logits", x, t, kernels::Binary::bce_logits);
  const bool gt = t.requires_grad();
  l = record("binary_cross_entropy_with_logits", l, {x, t}, [x = x.detach(), t = t.detach(), gt](const Tensor& gy) {
    // d/dx = sigmoid(x) - t, d/dt = -x
    return Grads{gy * detail::binary_kernel("bce", x, t, kernels::Binary::sigmoid_sub), gt ? gy * -x : Tensor()};
  });
  return reduce(l, r);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction r) {
  ELBO_CHECK_SHAPE(input.shape() == target.shape(), "mse_loss: input {} and target {} must have the same shape",
                   input.shape(), target.shape());
  return reduce(square(input - target), r);
}

}  // namespace elbo
