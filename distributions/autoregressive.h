#pragma once
// Affine autoregressive flows: inverse autoregressive flow (Kingma et al. 2016, "Improved variational
// inference with inverse autoregressive flow", eq. 10-15) and masked autoregressive flow
// (Papamakarios et al. 2017). An autoregressive network maps x [..., D] to (m, s) [..., D] each, where
// m_i and s_i depend on x_{<i} only (in the network's own order: a MADE, nn::MADE):
//   y = sigma * x + (1 - sigma) * m,  sigma = sigmoid(s + sigmoid_bias),  log |det J| = sum_i log sigma_i,
// Kingma et al.'s numerically stable update (their eq. 14): the bias starts sigma near 1, so an
// untrained step is close to the identity. Forward is one network pass; inverse is D passes (each fixes
// one more coordinate), so as IAF it samples and scores its own samples fast, and as MAF (applied in the
// inverse direction, AutoregressiveDirection::density) it scores data fast.
#include <functional>
#include <utility>

#include "transforms.h"

namespace elbo::dist {

// (x [..., D], context) -> (m, s), each [..., D], autoregressive in x; the context (an encoder's features,
// undefined for an unconditioned flow) is the transform's, so a conditioned flow step is built per batch
// while the network is shared (Pyro's ConditionalAffineAutoregressive.condition(context)).
using AutoregressiveNet = std::function<std::pair<Tensor, Tensor>(const Tensor& x, const Tensor& context)>;

class AffineAutoregressiveTransform final : public Transform {
 public:
  AffineAutoregressiveTransform(AutoregressiveNet net, int64_t features, Tensor context = Tensor(),
                                double sigmoid_bias = 2.0);
  std::string name() const override { return "AffineAutoregressiveTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override { return forward_with_log_det(x).y; }
  Result forward_with_log_det(const Tensor& x) const override;
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override;  // D network passes

 private:
  AutoregressiveNet net_;
  int64_t features_;
  Tensor context_;
  double bias_;
};

// The inverse of a transform as a transform: forward is t.inverse, the log-det is minus t's at the
// inverse's output. A MAF layer is InverseTransform(AffineAutoregressiveTransform): scoring data runs
// the cheap direction.
class InverseTransform final : public Transform {
 public:
  explicit InverseTransform(TransformPtr t);
  std::string name() const override { return "InverseTransform<" + t_->name() + ">"; }
  int64_t event_dim() const override { return t_->event_dim(); }
  Tensor forward(const Tensor& x) const override { return t_->inverse(x); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override {
    return -t_->log_abs_det_jacobian(y, x);
  }
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override { return t_->forward(y); }
  // t's forward pass at y gives x and t's log |det| at y, the negative of this map's at x
  InverseResult inverse_with_log_det(const Tensor& y) const override {
    Result r = t_->forward_with_log_det(y);
    return {r.y, -r.log_det};
  }

 private:
  TransformPtr t_;
};

}  // namespace elbo::dist
