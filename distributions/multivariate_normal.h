#pragma once
// Gaussians with full and low-rank-plus-diagonal covariance over an event of D values, as
// torch.distributions' MultivariateNormal (scale_tril form) and LowRankMultivariateNormal.
//
// MultivariateNormal(loc [..., D], scale_tril [..., D, D]): covariance L L^T for L lower triangular with
// a positive diagonal; from_covariance(loc, S) takes L = cholesky(S). batch_shape broadcasts loc's and
// L's leading dims; event_shape [D]. rsample = loc + L eps (pathwise in loc and L). log_prob solves
// L y = x - loc by substitution (no inverse is formed):
//   log p(x) = -|y|^2 / 2 - sum_i log L_ii - D/2 log(2 pi),   H = D/2 (1 + log 2 pi) + sum_i log L_ii.
//
// LowRankMultivariateNormal(loc [..., D], cov_factor W [..., D, R], cov_diag d [..., D]): covariance
// W W^T + diag(d), d > 0. rsample = loc + W eps_R + sqrt(d) eps_D costs O(D R) per draw. log_prob and
// entropy use the capacitance C = I_R + W^T D^-1 W (Woodbury and the matrix determinant lemma), as torch:
//   log det S = log det C + sum log d,   x^T S^-1 x = x^T D^-1 x - |L_C^-1 W^T D^-1 x|^2  (L_C = chol C).
//
// KL (kl.h): MultivariateNormal || MultivariateNormal in closed form,
//   KL(p || q) = sum log diag L_q - sum log diag L_p + (|L_q^-1 L_p|_F^2 + |L_q^-1 (m_q - m_p)|^2 - D) / 2;
// the low-rank family and a diagonal Normal (Independent<Normal> over one dim) take part through their
// dense form (to_multivariate), exactly, at O(D^3).
#include "distribution.h"
#include "independent.h"
#include "normal.h"

namespace elbo::dist {

class MultivariateNormal {
 public:
  MultivariateNormal(Tensor loc, Tensor scale_tril);
  static MultivariateNormal from_covariance(Tensor loc, const Tensor& covariance);

  const Tensor& loc() const { return loc_; }
  const Tensor& scale_tril() const { return scale_tril_; }
  Shape batch_shape() const;
  Shape event_shape() const { return {loc_.size(-1)}; }
  DType dtype() const { return loc_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;   // no gradient
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;  // loc + L eps
  Tensor log_prob(const Tensor& value) const;
  Tensor entropy() const;
  Tensor mean() const { return loc_; }
  Tensor variance() const;           // the covariance's diagonal, [..., D]
  Tensor covariance_matrix() const;  // L L^T, [..., D, D]
  Tensor half_log_det() const;       // sum_i log L_ii = log det(covariance) / 2, batch_shape

 private:
  Tensor loc_, scale_tril_;  // broadcast to batch_shape ++ [D] and batch_shape ++ [D, D]
};

class LowRankMultivariateNormal {
 public:
  LowRankMultivariateNormal(Tensor loc, Tensor cov_factor, Tensor cov_diag);

  const Tensor& loc() const { return loc_; }
  const Tensor& cov_factor() const { return cov_factor_; }
  const Tensor& cov_diag() const { return cov_diag_; }
  Shape batch_shape() const;
  Shape event_shape() const { return {loc_.size(-1)}; }
  DType dtype() const { return loc_.dtype(); }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;  // loc + W eps_R + sqrt(d) eps_D
  Tensor log_prob(const Tensor& value) const;
  Tensor entropy() const;
  Tensor mean() const { return loc_; }
  Tensor variance() const;           // sum_r W_ir^2 + d_i
  Tensor covariance_matrix() const;  // W W^T + diag(d)
  Tensor log_det() const;            // log det(W W^T + diag d), batch_shape (the matrix determinant lemma)

 private:
  Tensor loc_, cov_factor_, cov_diag_;
  Tensor capacitance_tril_;  // cholesky(I + W^T D^-1 W), [..., R, R]
};

// The same distributions as a dense MultivariateNormal: L = cholesky(W W^T + diag d) for the low-rank
// family, L = diag(scale) for a diagonal Normal over one event dim.
MultivariateNormal to_multivariate(const LowRankMultivariateNormal& p);
MultivariateNormal to_multivariate(const Independent<Normal>& p);

}  // namespace elbo::dist
