#include "nn/sequential.h"

namespace elbo::nn {

Tensor Sequential::forward(const Tensor& x) const {
  Tensor y = x;
  for (const auto& step : steps_) y = step(y);
  return y;
}

}  // namespace elbo::nn
