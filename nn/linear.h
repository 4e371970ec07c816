#pragma once
// Linear: y = x W^T + b, as torch.nn.Linear. weight [out, in], bias [out]; both U(-1/sqrt(in), 1/sqrt(in))
// by default (torch's kaiming_uniform with a = sqrt(5), whose bound reduces to 1/sqrt(fan_in)).
#include "init.h"
#include "module.h"

namespace elbo::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator& gen = default_generator());
  Linear(int64_t in_features, int64_t out_features, Generator& gen) : Linear(in_features, out_features, true, gen) {}

  Tensor forward(const Tensor& x) const;  // x [..., in] -> [..., out]

  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

// MaskedLinear: y = x (W * M)^T + b with a fixed 0/1 mask M [out, in] (a buffer named "mask", as Pyro's
// MaskedLinear), the building block of MADE (Germain et al. 2015): a masked weight keeps output i from
// seeing the inputs its mask zeroes. Initialized as Linear; the gradient of masked entries is zero.
class MaskedLinear : public Module {
 public:
  MaskedLinear(int64_t in_features, int64_t out_features, Tensor mask, Generator& gen = default_generator());

  Tensor forward(const Tensor& x) const;  // x [..., in] -> [..., out]
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::string extra_repr() const override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& mask() const { return mask_; }

 private:
  int64_t in_, out_;
  Tensor weight_, bias_, mask_;
};

}  // namespace elbo::nn
