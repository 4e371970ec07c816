#pragma once
// Transforms: differentiable maps y = f(x) with the log |det| of their Jacobian, the building blocks of
// normalizing flows and of TransformedDistribution (transformed.h), as torch.distributions.transforms
// and Pyro's flows. Each acts on the last event_dim() dims (0: elementwise, 1: vectors) and broadcasts
// over the rest; log_abs_det_jacobian(x, y) has x's shape without those dims. A transform whose
// parameters come from an encoder (an amortized flow) is the same class built from the encoder's
// outputs, batch-shaped like them: Pyro's ConditionalTransform.condition(context) is a constructor here.
//
// Invertibility: every transform here is a bijection; inverse() exists where a closed form does
// (has_inverse()), else it throws naming the transform. TransformedDistribution never needs it to score
// its own samples.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distribution.h"

namespace elbo::dist {

class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;
  virtual int64_t event_dim() const = 0;
  virtual Tensor forward(const Tensor& x) const = 0;
  virtual Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const = 0;
  // y and log |det J| together (a flow computes them from shared terms; the default calls both).
  struct Result {
    Tensor y, log_det;
  };
  virtual Result forward_with_log_det(const Tensor& x) const;
  virtual bool has_inverse() const { return false; }
  virtual Tensor inverse(const Tensor& y) const;  // throws unless has_inverse()
  // x = inverse(y) and the forward map's log |det J| at x, together: scoring a value
  // (TransformedDistribution::log_prob) needs both, and a coupling or autoregressive step gets both
  // from one pass of its network. The default calls inverse, then log_abs_det_jacobian(x, y).
  struct InverseResult {
    Tensor x, log_det;
  };
  virtual InverseResult inverse_with_log_det(const Tensor& y) const;
};

using TransformPtr = std::shared_ptr<const Transform>;

// ---- elementwise bijections, as torch's ----
// y = loc + scale * x (scale != 0), over event_dim dims (torch.distributions.AffineTransform).
class AffineTransform final : public Transform {
 public:
  AffineTransform(Tensor loc, Tensor scale, int64_t event_dim = 0);
  std::string name() const override { return "AffineTransform"; }
  int64_t event_dim() const override { return event_dim_; }
  Tensor forward(const Tensor& x) const override;
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override;

 private:
  Tensor loc_, scale_;
  int64_t event_dim_;
};

// y = exp(x); log |det| = x.
class ExpTransform final : public Transform {
 public:
  std::string name() const override { return "ExpTransform"; }
  int64_t event_dim() const override { return 0; }
  Tensor forward(const Tensor& x) const override { return exp(x); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override { return log(y); }
};

// y = sigmoid(x); log |det| = -softplus(-x) - softplus(x).
class SigmoidTransform final : public Transform {
 public:
  std::string name() const override { return "SigmoidTransform"; }
  int64_t event_dim() const override { return 0; }
  Tensor forward(const Tensor& x) const override { return sigmoid(x); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override;  // logit, clamped into the open interval as torch
};

// y = tanh(x); log |det| = 2 (log 2 - x - softplus(-2x)), stable for large |x| (as torch).
class TanhTransform final : public Transform {
 public:
  std::string name() const override { return "TanhTransform"; }
  int64_t event_dim() const override { return 0; }
  Tensor forward(const Tensor& x) const override { return tanh(x); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override;  // atanh, clamped into (-1, 1) as torch
};

// x = (sigmoid(y) - alpha) / (1 - 2 alpha): the inverse of Real NVP's logit preprocessing of pixels
// (Dinh et al. 2017, sec. 4.1), so a flow in logit space gives a density on pixel intensities; inverse
// y = logit(alpha + (1 - 2 alpha) x), finite for x in [0, 1]; log |det| = log sigmoid'(y) - log(1 - 2 alpha).
class UnitIntervalTransform final : public Transform {
 public:
  explicit UnitIntervalTransform(double alpha = 0.05);
  std::string name() const override { return "UnitIntervalTransform"; }
  int64_t event_dim() const override { return 0; }
  Tensor forward(const Tensor& y) const override;
  Tensor log_abs_det_jacobian(const Tensor& y, const Tensor& x) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& x) const override;

 private:
  double alpha_;
};

// ---- flows on vectors (event_dim 1); parameters broadcast against x's batch dims ----

// y = x reversed along the event dim: a permutation between coupling steps (volume preserving).
class FlipTransform final : public Transform {
 public:
  std::string name() const override { return "FlipTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override { return flip(x, {-1}); }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override { return flip(y, {-1}); }
};

// Planar flow (Rezende and Mohamed 2015, eq. 10-12): y = x + u_hat tanh(w.x + b), with
//   log |det J| = log |1 + u_hat . psi|,  psi = (1 - tanh^2(w.x + b)) w,
// and u_hat = u + (m(w.u) - w.u) w / |w|^2, m(a) = -1 + softplus(a), so that w.u_hat > -1 and the map
// is invertible (their appendix A). u, w [..., D], b [...]. No closed-form inverse.
class PlanarTransform final : public Transform {
 public:
  PlanarTransform(Tensor u, Tensor w, Tensor b);
  std::string name() const override { return "PlanarTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override { return forward_with_log_det(x).y; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Result forward_with_log_det(const Tensor& x) const override;
  const Tensor& u_hat() const { return u_hat_; }

 private:
  Tensor u_hat_, w_, b_;
};

// Radial flow (Rezende and Mohamed 2015, eq. 14): y = x + beta h(r) (x - x0), h = 1 / (alpha + r),
// r = |x - x0|, with
//   log |det J| = (D - 1) log(1 + beta h) + log(1 + beta h - beta r / (alpha + r)^2),
// alpha = softplus(alpha_raw) > 0 and beta = -alpha + softplus(beta_raw) >= -alpha for invertibility.
// x0 [..., D], alpha_raw, beta_raw [...]. No closed-form inverse.
class RadialTransform final : public Transform {
 public:
  RadialTransform(Tensor x0, Tensor alpha_raw, Tensor beta_raw);
  std::string name() const override { return "RadialTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override { return forward_with_log_det(x).y; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Result forward_with_log_det(const Tensor& x) const override;

 private:
  Tensor x0_, alpha_, beta_;
};

// Householder flow (Tomczak and Welling 2016): y = (I - 2 v v^T / |v|^2) x, a reflection: volume
// preserving (log |det| = 0) and its own inverse. v [..., D].
class HouseholderTransform final : public Transform {
 public:
  explicit HouseholderTransform(Tensor v);
  std::string name() const override { return "HouseholderTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override;
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override { return forward(y); }

 private:
  Tensor v_;
};

// Sylvester flow (van den Berg et al. 2018, eq. 13-16): y = x + Q R tanh(R~ Q^T x + b) with Q [..., D, M]
// orthonormal columns and R, R~ [..., M, M] upper triangular, so by Sylvester's determinant identity
//   log |det J| = sum_i log |1 + r_ii r~_ii tanh'(R~ Q^T x + b)_i|.
// Only the upper triangles of R and R~ are read. Invertibility asks r_ii r~_ii > -1: the zoo's heads give
// diagonals through tanh (|r_ii| < 1), as the paper does. Q is the caller's: orthogonalize() below for
// the orthogonal variant, a permutation for the triangular one. No closed-form inverse.
class SylvesterTransform final : public Transform {
 public:
  SylvesterTransform(Tensor q, Tensor r, Tensor r_tilde, Tensor b);
  std::string name() const override { return "SylvesterTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override { return forward_with_log_det(x).y; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Result forward_with_log_det(const Tensor& x) const override;

 private:
  Tensor q_, r_, r_tilde_, b_;
};

// Orthonormal columns from a full-column-rank [..., D, M] by Bjorck and Bowie's iteration
// Q <- Q (I + (I - Q^T Q) / 2), started from the input scaled by its Frobenius norm (so it converges),
// as van den Berg et al. do for O-SNF; differentiable through every step.
Tensor orthogonalize(const Tensor& raw, int64_t steps = 30);

// Affine coupling (Dinh et al. 2017, Real NVP): x = [x_a, x_b] split at `split` on the last dim;
//   y_a = x_a,  y_b = x_b * exp(s(x_a)) + t(x_a),  log |det J| = sum s(x_a),
// inverse x_b = (y_b - t(y_a)) * exp(-s(y_a)). net maps x_a [..., split] to (s, t), each [..., D - split].
class AffineCouplingTransform final : public Transform {
 public:
  using Net = std::function<std::pair<Tensor, Tensor>(const Tensor& x_a)>;
  AffineCouplingTransform(Net net, int64_t features, int64_t split);
  // A conditioner that also reads a context (a decoder's features): net(x_a, context). The context is
  // held here, so the network needs no capture of it (a capture of a Tensor puts std::function's
  // closure on the heap, once per coupling step and training step).
  using ContextNet = std::function<std::pair<Tensor, Tensor>(const Tensor& x_a, const Tensor& context)>;
  AffineCouplingTransform(ContextNet net, Tensor context, int64_t features, int64_t split);
  std::string name() const override { return "AffineCouplingTransform"; }
  int64_t event_dim() const override { return 1; }
  Tensor forward(const Tensor& x) const override { return forward_with_log_det(x).y; }
  Tensor log_abs_det_jacobian(const Tensor& x, const Tensor& y) const override;
  Result forward_with_log_det(const Tensor& x) const override;
  bool has_inverse() const override { return true; }
  Tensor inverse(const Tensor& y) const override { return inverse_with_log_det(y).x; }
  InverseResult inverse_with_log_det(const Tensor& y) const override;  // one pass of the network

 private:
  std::pair<Tensor, Tensor> st(const Tensor& x_a, const Tensor& x) const;
  Net net_;
  ContextNet context_net_;
  Tensor context_;
  int64_t features_, split_;
};

}  // namespace elbo::dist
