#pragma once
// Dropout, as torch.nn.Dropout: in training, zeroes each element with probability p and scales the rest
// by 1 / (1 - p); in eval mode, the identity. Draws from the Generator it was given, which must outlive it.
#include "../autograd/random.h"
#include "init.h"
#include "module.h"

namespace elbo::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) const;
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;

 private:
  double p_;
  Generator* gen_;
};

}  // namespace elbo::nn
