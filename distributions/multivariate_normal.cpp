// MultivariateNormal and LowRankMultivariateNormal: torch's formulas, written with elbo ops (cholesky
// and solve_triangular among them), so every gradient comes from the tape.
#include "distributions/multivariate_normal.h"

#include <cmath>
#include <numbers>

namespace elbo::dist {
namespace {
const double kLog2Pi = std::log(2 * std::numbers::pi);

// t's dims without the last `drop`, borrowed from t (no shape is built: the constructors run every step)
IntList leading(const Tensor& t, int64_t drop) { return IntList(t.shape().data(), t.shape().size() - size_t(drop)); }
detail::Dims with(IntList s, std::initializer_list<int64_t> tail) {
  detail::Dims d(s.begin(), s.end());
  d.insert(d.end(), tail);
  return d;
}
// Squared norm over the last two dims of a [..., n, k] solve.
Tensor squared_norm(const Tensor& y) { return sum(square(y), {-2, -1}); }
}  // namespace

// ---- MultivariateNormal ----

MultivariateNormal::MultivariateNormal(Tensor loc, Tensor scale_tril) {
  constexpr const char* kName = "MultivariateNormal";
  check_floating(kName, "loc", loc);
  check_floating(kName, "scale_tril", scale_tril);
  ELBO_CHECK_SHAPE(loc.dim() >= 1, "{}: loc must be [..., D], got shape {}", kName, loc.shape());
  const int64_t d = loc.size(-1);
  ELBO_CHECK_SHAPE(scale_tril.dim() >= 2 && scale_tril.size(-1) == d && scale_tril.size(-2) == d,
                   "{}: scale_tril must be [..., {}, {}] for loc {}, got shape {}", kName, d, d, loc.shape(),
                   scale_tril.shape());
  validate(kName, "loc", loc, Constraint::real);
  if (validate_args()) {
    validate(kName, "the diagonal of scale_tril", diagonal(scale_tril.detach()), Constraint::positive);
    ELBO_CHECK_VALUE(count_outside(triu(scale_tril.detach(), 1), 0, 0) == 0,
                     "{}: scale_tril {} must be lower triangular (it has nonzeros above the diagonal)", kName,
                     scale_tril.shape());
  }
  const DType dt = common_dtype(loc, scale_tril);
  const detail::Dims batch = broadcast_dims(kName, "loc batch", leading(loc, 1), "scale_tril batch", leading(scale_tril, 2));
  loc_ = expand_to(loc.to(dt), with(batch, {d}));
  scale_tril_ = expand_to(scale_tril.to(dt), with(batch, {d, d}));
}

MultivariateNormal MultivariateNormal::from_covariance(Tensor loc, const Tensor& covariance) {
  check_floating("MultivariateNormal", "covariance", covariance);
  return MultivariateNormal(std::move(loc), cholesky(covariance));
}

Shape MultivariateNormal::batch_shape() const { return leading(loc_, 1).vec(); }

Tensor MultivariateNormal::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

Tensor MultivariateNormal::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor eps = randn(extended_dims(sample_shape, loc_.shape()), gen, dtype());
  return loc_ + squeeze(matmul(scale_tril_, unsqueeze(eps, -1)), -1);
}

Tensor MultivariateNormal::half_log_det() const { return sum(log(diagonal(scale_tril_)), {-1}); }

Tensor MultivariateNormal::log_prob(const Tensor& value) const {
  check_floating("MultivariateNormal", "value", value);
  check_value_shape("MultivariateNormal", value, leading(loc_, 1), {loc_.size(-1)});
  validate("MultivariateNormal", "value", value, Constraint::real);
  const Tensor y = solve_triangular(scale_tril_, unsqueeze(value - loc_, -1), /*upper=*/false);
  return -0.5 * (double(loc_.size(-1)) * kLog2Pi + squared_norm(y)) - half_log_det();
}

Tensor MultivariateNormal::entropy() const {
  return 0.5 * double(loc_.size(-1)) * (1.0 + kLog2Pi) + half_log_det();
}

Tensor MultivariateNormal::variance() const { return sum(square(scale_tril_), {-1}); }

Tensor MultivariateNormal::covariance_matrix() const { return matmul(scale_tril_, transpose(scale_tril_, -1, -2)); }

// ---- LowRankMultivariateNormal ----

LowRankMultivariateNormal::LowRankMultivariateNormal(Tensor loc, Tensor cov_factor, Tensor cov_diag) {
  constexpr const char* kName = "LowRankMultivariateNormal";
  check_floating(kName, "loc", loc);
  check_floating(kName, "cov_factor", cov_factor);
  check_floating(kName, "cov_diag", cov_diag);
  ELBO_CHECK_SHAPE(loc.dim() >= 1, "{}: loc must be [..., D], got shape {}", kName, loc.shape());
  const int64_t d = loc.size(-1);
  ELBO_CHECK_SHAPE(cov_factor.dim() >= 2 && cov_factor.size(-2) == d,
                   "{}: cov_factor must be [..., {}, R] for loc {}, got shape {}", kName, d, loc.shape(), cov_factor.shape());
  ELBO_CHECK_SHAPE(cov_diag.dim() >= 1 && cov_diag.size(-1) == d, "{}: cov_diag must be [..., {}] for loc {}, got shape {}",
                   kName, d, loc.shape(), cov_diag.shape());
  validate(kName, "loc", loc, Constraint::real);
  validate(kName, "cov_factor", cov_factor, Constraint::finite);
  validate(kName, "cov_diag", cov_diag, Constraint::positive);
  const int64_t r = cov_factor.size(-1);
  const DType t = common_dtype(loc, cov_factor) == DType::f64 ? DType::f64 : common_dtype(loc, cov_diag);
  detail::Dims batch = broadcast_dims(kName, "loc batch", leading(loc, 1), "cov_factor batch", leading(cov_factor, 2));
  batch = broadcast_dims(kName, "batch", batch, "cov_diag batch", leading(cov_diag, 1));
  loc_ = expand_to(loc.to(t), with(batch, {d}));
  cov_factor_ = expand_to(cov_factor.to(t), with(batch, {d, r}));
  cov_diag_ = expand_to(cov_diag.to(t), with(batch, {d}));
  // C = I + W^T D^-1 W
  const Tensor wt_dinv = transpose(cov_factor_ / unsqueeze(cov_diag_, -1), -1, -2);  // [..., R, D]
  const Tensor eye = diag_embed(ones({r}, t));
  capacitance_tril_ = cholesky(eye + matmul(wt_dinv, cov_factor_));
}

Shape LowRankMultivariateNormal::batch_shape() const { return leading(loc_, 1).vec(); }

Tensor LowRankMultivariateNormal::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

Tensor LowRankMultivariateNormal::rsample(Generator& gen, const Shape& sample_shape) const {
  const Tensor eps_w = randn(extended_dims(sample_shape, leading(loc_, 1), {cov_factor_.size(-1)}), gen, dtype());
  const Tensor eps_d = randn(extended_dims(sample_shape, loc_.shape()), gen, dtype());
  return loc_ + squeeze(matmul(cov_factor_, unsqueeze(eps_w, -1)), -1) + sqrt(cov_diag_) * eps_d;
}

Tensor LowRankMultivariateNormal::log_det() const {
  return 2.0 * sum(log(diagonal(capacitance_tril_)), {-1}) + sum(log(cov_diag_), {-1});
}

Tensor LowRankMultivariateNormal::log_prob(const Tensor& value) const {
  check_floating("LowRankMultivariateNormal", "value", value);
  check_value_shape("LowRankMultivariateNormal", value, leading(loc_, 1), {loc_.size(-1)});
  validate("LowRankMultivariateNormal", "value", value, Constraint::real);
  const Tensor diff = value - loc_;
  const Tensor dinv_diff = diff / cov_diag_;                                        // D^-1 x
  const Tensor wt = matmul(transpose(cov_factor_, -1, -2), unsqueeze(dinv_diff, -1));  // W^T D^-1 x, [..., R, 1]
  const Tensor y = solve_triangular(capacitance_tril_, wt, /*upper=*/false);
  const Tensor maha = sum(diff * dinv_diff, {-1}) - squared_norm(y);
  return -0.5 * (double(loc_.size(-1)) * kLog2Pi + log_det() + maha);
}

Tensor LowRankMultivariateNormal::entropy() const {
  return 0.5 * (double(loc_.size(-1)) * (1.0 + kLog2Pi) + log_det());
}

Tensor LowRankMultivariateNormal::variance() const { return sum(square(cov_factor_), {-1}) + cov_diag_; }

Tensor LowRankMultivariateNormal::covariance_matrix() const {
  return matmul(cov_factor_, transpose(cov_factor_, -1, -2)) + diag_embed(cov_diag_);
}

MultivariateNormal to_multivariate(const LowRankMultivariateNormal& p) {
  return MultivariateNormal(p.loc(), cholesky(p.covariance_matrix()));
}

MultivariateNormal to_multivariate(const Independent<Normal>& p) {
  ELBO_CHECK_VALUE(p.reinterpreted_batch_ndims() == 1,
                   "to_multivariate: the Independent Normal must have one event dim (event_shape {})", p.event_shape());
  return MultivariateNormal(p.base_dist().loc(), diag_embed(p.base_dist().scale()));
}

}  // namespace elbo::dist
