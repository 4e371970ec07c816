// ContinuousBernoulli, every formula in the logits l. The density (Loaiza-Ganem and Cunningham 2019)
//   p(x) = C(l) sigmoid(l)^x sigmoid(-l)^(1 - x) = l e^{l x} / (e^l - 1),   x in [0, 1],
// is an exponential family with natural parameter l and log partition A(l) = log((e^l - 1) / l), so
// log p(x) = l x - A(l), mean = A'(l), variance = A''(l), entropy = A(l) - l mean, and
// log C = softplus(l) - A(l) = log(l / tanh(l / 2)). torch.distributions.ContinuousBernoulli computes the
// same quantities from probs = sigmoid(l), with Taylor expansions for probs in (0.499, 0.501).
//
// Stability: x -> 1 - x maps CB(l) to CB(-l), so log C, variance and entropy are even in l and
// mean(l) = 1 - mean(-l). The closed forms are written for -a = -|l| <= 0, where e^{-a} <= 1 cannot
// overflow. Near l = 0 they are 0/0, and lose digits before that (mean and variance by cancellation, every
// gradient), so for |l| < cut series in l take over. where() selects; the closed forms are evaluated at l
// moved to the cut (`safe`), so the branch not selected is finite and where() sends it finite (zero)
// gradients. The cuts balance the series' truncation against the closed forms' cancellation (checked against
// mpmath in tests/distributions/test_continuous_bernoulli.cpp).
#include "distributions/continuous_bernoulli.h"

#include <initializer_list>
#include <limits>
#include <numbers>

#include "distributions/bernoulli.h"

namespace elbo::dist {

namespace {
constexpr const char* kName = "ContinuousBernoulli";

// log C, mean, variance and entropy: series to l^12 below the cut. The closed forms lose about eps / l^2
// (relative, the variance) to cancellation, the series about (l / pi)^14 to truncation; with these cuts the
// values stay within 1e-13 (f64) and 1e-6 (f32) of mpmath, as the tests check.
double moment_cut(DType d) { return d == DType::f32 ? 1.0 : 0.25; }
// cdf and icdf: the closed forms keep their digits down to l = 0 (only their gradients cancel, about
// eps / l relative), so a short series over a small interval suffices.
double quantile_cut(DType d) { return d == DType::f32 ? 0.1 : 1e-3; }

struct NearZero {
  Tensor small;  // |l| < cut (a mask, no gradient)
  Tensor safe;   // l, with the entries under the cut moved to the cut
};
NearZero near_zero(const Tensor& l, double cut) {
  const Tensor c = full({}, cut, l.dtype());
  const Tensor small = lt(abs(l.detach()), c);
  return {small, where(small, c, l)};
}

// c0 + t (c1 + t (c2 + ...)), Horner's scheme; c has at least 2 coefficients.
Tensor series(const Tensor& t, std::initializer_list<double> c) {
  const double* k = c.end() - 1;
  Tensor r = t * *k;
  while (--k != c.begin()) r = (r + *k) * t;
  return r + *k;
}

// ---- log C(l) = log(l / tanh(l / 2)), even ----
// Series: with u = l / 2, u coth u = sum_n 2^{2n} B_{2n} u^{2n} / (2n)! (B_k the Bernoulli numbers), and
// log C = log 2 + log(u coth u) = log 2 + l^2/12 - 7 l^4/1440 + 31 l^6/90720 - 127 l^8/4838400
// + 73 l^10/34214400 - 1414477 l^12/7846046208000 + O(l^14) (expanded with sympy).
Tensor log_norm_of(const Tensor& l) {
  const auto [small, safe] = near_zero(l, moment_cut(l.dtype()));
  const Tensor a = abs(safe);
  const Tensor closed = log(a) - log(tanh(0.5 * a));
  const Tensor near = series(square(l), {std::numbers::ln2, 1.0 / 12, -7.0 / 1440, 31.0 / 90720, -127.0 / 4838400,
                                         73.0 / 34214400, -1414477.0 / 7846046208000});
  return where(small, near, closed);
}

// mean(-a) for a > 0: A'(l) = 1 / (1 - e^{-l}) - 1 / l at l = -a is 1 / a + e^{-a} / expm1(-a), in (0, 1/2).
Tensor mean_of_neg(const Tensor& a) { return 1.0 / a + exp(-a) / expm1(-a); }

// ---- mean = A'(l) = 1/2 + coth(l / 2) / 2 - 1 / l ----
// Series: coth's Laurent series gives mean = 1/2 + sum_{n>=1} B_{2n} l^{2n-1} / (2n)!
//   = 1/2 + l/12 - l^3/720 + l^5/30240 - l^7/1209600 + l^9/47900160 - 691 l^11/1307674368000 + O(l^13).
Tensor mean_of(const Tensor& l) {
  const auto [small, safe] = near_zero(l, moment_cut(l.dtype()));
  const Tensor m = mean_of_neg(abs(safe));
  const Tensor closed = where(gt(safe, zeros({}, l.dtype())), 1.0 - m, m);
  const Tensor near = 0.5 + l * series(square(l), {1.0 / 12, -1.0 / 720, 1.0 / 30240, -1.0 / 1209600, 1.0 / 47900160,
                                                   -691.0 / 1307674368000});
  return where(small, near, closed);
}

// ---- variance = A''(l) = 1 / l^2 - e^l / (e^l - 1)^2, even: at -a, 1 / a^2 - e^{-a} / expm1(-a)^2 ----
// Series: the derivative of the mean's, sum_{n>=1} (2n - 1) B_{2n} l^{2n-2} / (2n)!
//   = 1/12 - l^2/240 + l^4/6048 - l^6/172800 + l^8/5322240 - 691 l^10/118879488000 + l^12/5748019200 + O(l^14).
Tensor variance_of(const Tensor& l) {
  const auto [small, safe] = near_zero(l, moment_cut(l.dtype()));
  const Tensor a = abs(safe);
  const Tensor closed = 1.0 / square(a) - exp(-a) / square(expm1(-a));
  const Tensor near = series(square(l), {1.0 / 12, -1.0 / 240, 1.0 / 6048, -1.0 / 172800, 1.0 / 5322240,
                                         -691.0 / 118879488000, 1.0 / 5748019200});
  return where(small, near, closed);
}

// ---- entropy = A(l) - l mean(l), even: at -a, log(-expm1(-a)) - log a + a mean(-a) ----
// Series: A(l) = l/2 + sum_{n>=1} B_{2n} l^{2n} / (2n (2n)!), so H = -sum_{n>=1} (2n - 1) B_{2n} l^{2n} / (2n (2n)!)
//   = -l^2/24 + l^4/960 - l^6/36288 + l^8/1382400 - l^10/53222400 + 691 l^12/1426553856000 + O(l^14).
Tensor entropy_of(const Tensor& l) {
  const auto [small, safe] = near_zero(l, moment_cut(l.dtype()));
  const Tensor a = abs(safe);
  const Tensor closed = log(-expm1(-a)) - log(a) + a * mean_of_neg(a);
  const Tensor l2 = square(l);
  const Tensor near =
      l2 * series(l2, {-1.0 / 24, 1.0 / 960, -1.0 / 36288, 1.0 / 1382400, -1.0 / 53222400, 691.0 / 1426553856000});
  return where(small, near, closed);
}

// ---- cdf F(x) = expm1(l x) / expm1(l) ----
// For l < 0 as it stands (at -a: expm1(-a x) / expm1(-a)); for l > 0 numerator and denominator times e^{-l}:
// F = e^{-a (1 - x)} expm1(-a x) / expm1(-a). Both: expm1(-a x) / expm1(-a) * exp(-relu(l) (1 - x)).
// Series: F = x + x (x - 1) [l/2 + (2x - 1) l^2/12 + x (x - 1) l^3/24] + O(l^4).
Tensor cdf_of(const Tensor& l, const Tensor& x) {
  const auto [small, safe] = near_zero(l, quantile_cut(l.dtype()));
  const Tensor a = abs(safe);
  const Tensor closed = expm1(-a * x) / expm1(-a) * exp(-relu(safe) * (1.0 - x));
  const Tensor w = x * (x - 1.0);
  const Tensor near = x + w * (0.5 * l + (2.0 * x - 1.0) * square(l) / 12.0 + w * (l * square(l)) / 24.0);
  return where(small, near, closed);
}

// ---- icdf: the x with F(x) = p ----
// Solving e^{l x} = 1 + p expm1(l):  x = log1p(z) / l with z = p expm1(l), as long as -1/2 <= z <= 1 (log1p
// keeps its digits there, so x keeps its relative precision down to tiny x). Outside that range x =
// log(s) / l with s = 1 + z = (1 - p) + p e^l, written without overflow: for l < 0 as it stands (z < -1/2:
// s < 1/2 is a sum of nonnegative terms, so log s keeps its digits), for l > 0 (z > 1, x > log(2) / l) as
// x = 1 + log(p + (1 - p) e^{-l}) / l. expm1 is capped below its overflow (the capped z is used only when it
// is in range, which for l above the cap takes a subnormal p), and each argument is clamped into its branch's
// range, so the branch not selected is finite.
// NOTE: at p = 1, s = e^l falls below the smallest normal number once l < -708 (f64) or -87 (f32); that
// endpoint is set exactly (x = 1, gradient 0). p = 0 gives x = 0 exactly through log1p.
// Series: x = p + p (p - 1) [-l/2 + (2p - 1) l^2/6 - (6 p (p - 1) + 1) l^3/24] + O(l^4).
Tensor icdf_of(const Tensor& l, const Tensor& p) {
  const DType d = l.dtype();
  const auto [small, safe] = near_zero(l, quantile_cut(d));
  const double cap = d == DType::f32 ? 88.0 : 709.0;  // expm1(cap) is finite
  const double tiny = d == DType::f32 ? double(std::numeric_limits<float>::min()) : std::numeric_limits<double>::min();
  const Tensor z = p * expm1(minimum(safe, full({}, cap, d)));
  const Tensor direct = log1p(clamp(z, -0.5, 1.0)) / safe;
  const Tensor a = abs(safe), pos = gt(safe, zeros({}, d)), e = exp(-a);
  const Tensor log_s = log(clamp(where(pos, p + (1.0 - p) * e, (1.0 - p) + p * e), tiny, 1.0));
  const Tensor other = where(pos, 1.0 + log_s / a, -log_s / a);
  const Tensor in_range = ge(z, full({}, -0.5, d)) * le(z, ones({}, d));
  const Tensor closed = where(eq(p, ones({}, d)), ones({}, d), where(in_range, direct, other));
  const Tensor w = p * (p - 1.0);
  const Tensor near = p + w * (-0.5 * l + (2.0 * p - 1.0) * square(l) / 6.0 - (6.0 * w + 1.0) * (l * square(l)) / 24.0);
  return where(small, near, closed);
}
}  // namespace

ContinuousBernoulli::ContinuousBernoulli(Tensor logits) : logits_(std::move(logits)) {
  check_floating(kName, "logits", logits_);
  validate(kName, "logits", logits_, Constraint::finite);  // +-inf is a point mass, without a density
}

ContinuousBernoulli ContinuousBernoulli::from_probs(const Tensor& probs) {
  check_floating(kName, "probs", probs);
  validate(kName, "probs", probs, Constraint::unit_interval);
  return ContinuousBernoulli(binary_probs_to_logits(probs), probs);
}

Tensor ContinuousBernoulli::probs() const { return probs_.defined() ? probs_ : sigmoid(logits_); }

Tensor ContinuousBernoulli::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return rsample(gen, sample_shape).detach();
}

Tensor ContinuousBernoulli::rsample(Generator& gen, const Shape& sample_shape) const {
  return icdf_of(logits_, rand(extended_shape(sample_shape, batch_shape()), gen, dtype()));
}

// log p(x) = x log sigmoid(l) + (1 - x) log sigmoid(-l) + log C = -bce_with_logits(l, x) + log C, as torch.
Tensor ContinuousBernoulli::log_prob(const Tensor& value) const {
  check_floating(kName, "value", value);
  check_value_shape(kName, value, batch_shape());
  validate(kName, "value", value, Constraint::unit_interval);
  if (value.shape() == batch_shape() && value.dtype() == dtype())  // the common case, built without a Shape
    return -binary_cross_entropy_with_logits(logits_, value, Reduction::none) + log_norm_of(logits_);
  const Shape s = value_shape(kName, value, batch_shape());
  const DType d = common_dtype(logits_, value);
  const Tensor l = logits_.to(d);
  return -binary_cross_entropy_with_logits(expand_to(l, s), expand_to(value.to(d), s), Reduction::none) +
         log_norm_of(l);
}

Tensor ContinuousBernoulli::log_norm() const { return log_norm_of(logits_); }
Tensor ContinuousBernoulli::entropy() const { return entropy_of(logits_); }
Tensor ContinuousBernoulli::mean() const { return mean_of(logits_); }
Tensor ContinuousBernoulli::variance() const { return variance_of(logits_); }

// Values outside [0, 1] (possible only with validation off) give 0 below and 1 above, as torch.
Tensor ContinuousBernoulli::cdf(const Tensor& value) const {
  check_floating(kName, "value", value);
  check_value_shape(kName, value, batch_shape());
  validate(kName, "value", value, Constraint::unit_interval);
  const DType d = common_dtype(logits_, value);
  return cdf_of(logits_.to(d), clamp(value.to(d), 0.0, 1.0));
}

Tensor ContinuousBernoulli::icdf(const Tensor& p) const {
  check_floating(kName, "p", p);
  check_value_shape(kName, p, batch_shape());
  validate(kName, "p", p, Constraint::unit_interval);
  const DType d = common_dtype(logits_, p);
  return icdf_of(logits_.to(d), p.to(d));
}

}  // namespace elbo::dist
