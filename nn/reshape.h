#pragma once
// Flatten and Unflatten, as torch.nn: Flatten() turns [N, C, H, W] into [N, C*H*W];
// Unflatten(1, {64, 7, 7}) turns [N, 3136] back into [N, 64, 7, 7].
#include "module.h"

namespace elbo::nn {

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_(start_dim), end_(end_dim) {}
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;

 private:
  int64_t start_, end_;
};

class Unflatten : public Module {
 public:
  Unflatten(int64_t dim, Shape sizes);
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;

 private:
  int64_t dim_;
  Shape sizes_;
};

}  // namespace elbo::nn
