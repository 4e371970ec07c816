// Convolutions: not implemented yet (the declarations in ops.h are the contract).
#include "autograd/ops/common.h"

namespace elbo {
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor&, int64_t, int64_t) {
  throw Error(fmt::format("conv2d: not implemented yet (x {}, w {})", x.shape(), w.shape()));
}
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor&, int64_t, int64_t, int64_t) {
  throw Error(fmt::format("conv_transpose2d: not implemented yet (x {}, w {})", x.shape(), w.shape()));
}
}  // namespace elbo
