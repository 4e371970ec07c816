// The KL registry. Each overload states its formula, its derivation and its source; each has a Monte
// Carlo check in tests/distributions/test_kl.cpp and a value check against torch 1.13's kl.py.
#include "distributions/kl.h"

#include <limits>

namespace elbo::dist {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

Tensor inf_like(const Tensor& t) { return full({}, kInf, t.dtype()); }
Tensor zero_like(const Tensor& t) { return zeros({}, t.dtype()); }
}  // namespace

// KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2
//                               = 1/2 (r + t - 1 - log r),  r = (s1 / s2)^2,  t = ((m1 - m2) / s2)^2.
// Derivation: KL = -H(p) - E_p[log q]; -H(p) = -1/2 log(2 pi s1^2) - 1/2 and
// -E_p[log q] = 1/2 log(2 pi s2^2) + E_p[(z - m2)^2] / (2 s2^2) with E_p[(z - m2)^2] = s1^2 + (m1 - m2)^2.
// Source: torch.distributions.kl._kl_normal_normal (same grouping, so the values agree to rounding).
Tensor kl_divergence(const Normal& p, const Normal& q) {
  check_broadcast("kl_divergence", "Normal p batch_shape", p.batch_shape(), "q batch_shape", q.batch_shape());
  const Tensor var_ratio = square(p.scale() / q.scale());
  const Tensor t = square((p.loc() - q.loc()) / q.scale());
  return 0.5 * (var_ratio + t - 1.0 - log(var_ratio));
}

// KL(Bern(a) || Bern(b)) = a log(a / b) + (1 - a) log((1 - a) / (1 - b)). In logits (la, lb), with
// log sigmoid(l) = -softplus(-l) and log(1 - sigmoid(l)) = -softplus(l):
//   t1 = a (softplus(-lb) - softplus(-la)),  t2 = (1 - a) (softplus(lb) - softplus(la)),  KL = t1 + t2,
// finite for any finite logits. Where b has no mass at 1 (and a has) t1 = inf; where a has none, t1 = 0
// (0 log 0 = 0); likewise t2 at 0. Source: torch.distributions.kl._kl_bernoulli_bernoulli.
// NOTE: torch tests "no mass" as probs == 0 after rounding, so a finite logit above 36.7 (f64) or 16.6
// (f32) in q yields inf. Here only exact zeros count: probs given as 0 or 1 to from_probs, or infinite
// logits; large finite logits give the large finite KL they mean.
Tensor kl_divergence(const Bernoulli& p, const Bernoulli& q) {
  check_broadcast("kl_divergence", "Bernoulli p batch_shape", p.batch_shape(), "q batch_shape", q.batch_shape());
  const auto no_mass_at_1 = [](const Bernoulli& b) {
    return b.probs_.defined() ? eq(b.probs_, zero_like(b.probs_)) : eq(b.logits_, -inf_like(b.logits_));
  };
  const auto no_mass_at_0 = [](const Bernoulli& b) {
    return b.probs_.defined() ? eq(b.probs_, ones({}, b.probs_.dtype())) : eq(b.logits_, inf_like(b.logits_));
  };
  const Tensor a = p.probs();
  Tensor t1 = a * (softplus(-q.logits()) - softplus(-p.logits()));
  t1 = where(no_mass_at_1(p), zero_like(t1), where(no_mass_at_1(q), inf_like(t1), t1));
  Tensor t2 = (1.0 - a) * (softplus(q.logits()) - softplus(p.logits()));
  t2 = where(no_mass_at_0(p), zero_like(t2), where(no_mass_at_0(q), inf_like(t2), t2));
  return t1 + t2;
}

// KL(Cat(a) || Cat(b)) = sum_k a_k (log a_k - log b_k), with the stored normalized logits as log a, log b.
// A class where b has no mass and a has gives inf; one where a has none contributes 0.
// Source: torch.distributions.kl._kl_categorical_categorical. Exact zeros only, as for Bernoulli above:
// probs given as 0, or logits of -inf.
Tensor kl_divergence(const Categorical& p, const Categorical& q) {
  ELBO_CHECK_SHAPE(p.num_events() == q.num_events(),
                   "kl_divergence: Categorical p has {} classes (logits {}) but q has {} (logits {})", p.num_events(),
                   p.logits().shape(), q.num_events(), q.logits().shape());
  check_broadcast("kl_divergence", "Categorical p batch_shape", p.batch_shape(), "q batch_shape", q.batch_shape());
  const auto no_mass = [](const Categorical& c) {
    return c.probs_.defined() ? eq(c.probs_, zero_like(c.probs_)) : eq(c.logits_, -inf_like(c.logits_));
  };
  Tensor t = p.probs() * (p.logits() - q.logits());
  t = where(no_mass(p), zero_like(t), where(no_mass(q), inf_like(t), t));
  return sum(t, {-1});
}

// One-hot vectors are a relabeling of class indices: the same KL as the Categorical pair.
// Source: torch.distributions.kl._kl_onehotcategorical_onehotcategorical.
Tensor kl_divergence(const OneHotCategorical& p, const OneHotCategorical& q) {
  return kl_divergence(p.categorical(), q.categorical());
}

// KL(CB(a) || CB(b)) = E_p[log p(x) - log q(x)] with log p(x) = l x - A(l), A(l) = log((e^l - 1) / l):
//   KL = (a - b) mean_p - A(a) + A(b),   A(l) = softplus(l) - log C(l),
// the Bregman divergence of the log partition A, as for any exponential family (mean_p = A'(a)). Finite for
// any finite logits; every term is the family's own stable form (continuous_bernoulli.cpp).
// Source: torch.distributions.kl._kl_continuous_bernoulli_continuous_bernoulli, the same three terms in
// probs: t1 = mean_p (a - b), t2 = log C(a) + log1p(-probs_p) = log C(a) - softplus(a), t3 = -(log C(b) - softplus(b)).
Tensor kl_divergence(const ContinuousBernoulli& p, const ContinuousBernoulli& q) {
  broadcast_shape("kl_divergence", "ContinuousBernoulli p batch_shape", p.batch_shape(), "q batch_shape",
                  q.batch_shape());
  const Tensor &a = p.logits(), &b = q.logits();
  return p.mean() * (a - b) + (p.log_norm() - softplus(a)) - (q.log_norm() - softplus(b));
}

// KL(N(m_p, S_p) || N(m_q, S_q)) = 1/2 [tr(S_q^-1 S_p) + (m_q - m_p)^T S_q^-1 (m_q - m_p) - D
//                                        + log det S_q - log det S_p].
// With S = L L^T: tr(S_q^-1 S_p) = |L_q^-1 L_p|_F^2, the quadratic form is |L_q^-1 (m_q - m_p)|^2 and
// log det S = 2 sum log diag L; both solves are triangular. Source: torch.distributions.kl._kl_multivariatenormal_multivariatenormal.
Tensor kl_divergence(const MultivariateNormal& p, const MultivariateNormal& q) {
  ELBO_CHECK_SHAPE(p.event_shape() == q.event_shape(), "kl_divergence: MultivariateNormal event_shape {} vs {}",
                   p.event_shape(), q.event_shape());
  check_broadcast("kl_divergence", "MultivariateNormal p batch_shape", p.batch_shape(), "q batch_shape", q.batch_shape());
  const Tensor trace = sum(square(solve_triangular(q.scale_tril(), p.scale_tril(), false)), {-2, -1});
  const Tensor m = sum(square(solve_triangular(q.scale_tril(), unsqueeze(q.loc() - p.loc(), -1), false)), {-2, -1});
  const double d = double(p.event_shape()[0]);
  return q.half_log_det() - p.half_log_det() + 0.5 * (trace + m - d);
}

Tensor kl_divergence(const LowRankMultivariateNormal& p, const LowRankMultivariateNormal& q) {
  return kl_divergence(to_multivariate(p), to_multivariate(q));
}
Tensor kl_divergence(const LowRankMultivariateNormal& p, const MultivariateNormal& q) {
  return kl_divergence(to_multivariate(p), q);
}
Tensor kl_divergence(const MultivariateNormal& p, const LowRankMultivariateNormal& q) {
  return kl_divergence(p, to_multivariate(q));
}
// Against a diagonal Gaussian q = N(mu, diag(s^2)) the inverse is elementwise, so neither KL needs a
// solve (the dense route, to_multivariate(q), makes two triangular solves per example):
//   KL(N(m, L L^T) || q) = sum log s - sum log diag L + 1/2 [sum_ij (L_ij / s_i)^2 + |(mu - m) / s|^2 - D],
//   KL(N(m, W W^T + diag d) || q) = sum log s - log det(W W^T + diag d) / 2
//                                  + 1/2 [sum_i (|W_i|^2 + d_i) / s_i^2 + |(mu - m) / s|^2 - D].
namespace {
const Normal& diagonal_of(const Independent<Normal>& q, int64_t d, std::string_view p_name) {
  ELBO_CHECK_VALUE(q.reinterpreted_batch_ndims() == 1,
                   "kl_divergence: the Independent Normal must have one event dim (event_shape {})", q.event_shape());
  ELBO_CHECK_SHAPE(q.base_dist().loc().size(-1) == d, "kl_divergence: {} event_shape [{}] vs Independent<Normal> {}",
                   p_name, d, q.event_shape());
  return q.base_dist();
}
}  // namespace

Tensor kl_divergence(const MultivariateNormal& p, const Independent<Normal>& q) {
  const int64_t d = p.loc().size(-1);
  const Normal& n = diagonal_of(q, d, "MultivariateNormal");
  check_broadcast("kl_divergence", "MultivariateNormal p batch_shape", IntList(p.loc().shape().data(), size_t(p.loc().dim() - 1)),
                  "q batch_shape", IntList(n.loc().shape().data(), size_t(n.loc().dim() - 1)));
  const Tensor trace = sum(square(p.scale_tril() / unsqueeze(n.scale(), -1)), {-2, -1});
  const Tensor m = sum(square((n.loc() - p.loc()) / n.scale()), {-1});
  return sum(log(n.scale()), {-1}) - p.half_log_det() + 0.5 * (trace + m - double(d));
}
Tensor kl_divergence(const Independent<Normal>& p, const MultivariateNormal& q) {
  return kl_divergence(to_multivariate(p), q);
}
Tensor kl_divergence(const LowRankMultivariateNormal& p, const Independent<Normal>& q) {
  const int64_t d = p.loc().size(-1);
  const Normal& n = diagonal_of(q, d, "LowRankMultivariateNormal");
  check_broadcast("kl_divergence", "LowRankMultivariateNormal p batch_shape",
                  IntList(p.loc().shape().data(), size_t(p.loc().dim() - 1)), "q batch_shape",
                  IntList(n.loc().shape().data(), size_t(n.loc().dim() - 1)));
  const Tensor var_q = square(n.scale());
  const Tensor trace = sum((sum(square(p.cov_factor()), {-1}) + p.cov_diag()) / var_q, {-1});
  const Tensor m = sum(square(n.loc() - p.loc()) / var_q, {-1});
  return sum(log(n.scale()), {-1}) - 0.5 * p.log_det() + 0.5 * (trace + m - double(d));
}
Tensor kl_divergence(const Independent<Normal>& p, const LowRankMultivariateNormal& q) {
  return kl_divergence(to_multivariate(p), to_multivariate(q));
}

}  // namespace elbo::dist
