#pragma once
// MADE (Germain et al. 2015, "Masked autoencoder for distribution estimation"): a one-hidden-layer
// network x [..., D] -> (m, s) [..., D] each, where outputs i see only the inputs before i in the
// network's order. Input i gets degree k(i) in 1..D (its position in the order); hidden unit j gets
// degree m(j) = 1 + j mod (D - 1); the input mask keeps x_i -> h_j where m(j) >= k(i), the output mask
// keeps h_j -> out_i where k(i) > m(j) (their eq. 12-13), so out_i depends on x_{<i} alone. An optional
// context (an encoder's features, Kingma et al. 2016's h) enters every hidden unit unmasked.
// Names: input (MaskedLinear D->H), context (Linear C->H, no bias), output (MaskedLinear H->2D: m, then s).
#include "linear.h"
#include "module.h"

namespace elbo::nn {

class MADE : public Module {
 public:
  // reversed: the order D..1 instead of 1..D (successive flow steps alternate, as Kingma et al. do).
  MADE(int64_t features, int64_t hidden, int64_t context_features = 0, bool reversed = false,
       Generator& gen = default_generator());

  struct Output {
    Tensor m, s;  // [..., D] each
  };
  Output forward(const Tensor& x, const Tensor& context = Tensor()) const;
  std::string extra_repr() const override;
  int64_t features() const { return features_; }
  bool reversed() const { return reversed_; }

 private:
  int64_t features_, hidden_, context_;
  bool reversed_;
  MaskedLinear* input_;
  Linear* context_layer_ = nullptr;
  MaskedLinear* output_;
};

}  // namespace elbo::nn
