#pragma once
// Activation layers: parameter-free modules that call one op each, as their torch.nn namesakes.
#include "module.h"

namespace elbo::nn {

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;

 private:
  double slope_;
};

class ELU : public Module {
 public:
  explicit ELU(double alpha = 1.0) : alpha_(alpha) {}
  Tensor forward(const Tensor& x) const;
  std::string extra_repr() const override;

 private:
  double alpha_;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& x) const;
};

class Softplus : public Module {  // log(1 + e^x), stable; beta = 1 as torch's default
 public:
  Tensor forward(const Tensor& x) const;
};

}  // namespace elbo::nn
