#include "nn/dropout.h"

#include "autograd/ops.h"

namespace elbo::nn {

Dropout::Dropout(double p, Generator& gen) : p_(p), gen_(&gen) {
  ELBO_CHECK(p >= 0 && p <= 1, "Dropout: p must be in [0, 1], got {}", p);
}

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p_ == 0) return x;
  if (p_ == 1) return x * 0.0;
  // mask ~ Bernoulli(1 - p), scaled so the expectation is x: d y / d x = mask / (1 - p)
  const Tensor keep = bernoulli(full(x.shape(), 1.0 - p_, x.dtype()), *gen_) * (1.0 / (1.0 - p_));
  return x * keep;
}

std::string Dropout::extra_repr() const { return fmt::format("p={}", p_); }

}  // namespace elbo::nn
