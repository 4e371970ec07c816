#include "models/likelihood.h"

#include <cmath>
#include <numbers>

namespace elbo::models {

int64_t Likelihood::out_features(int64_t d) const {
  switch (kind) {
    case LikelihoodKind::gaussian: return learned_std ? 2 * d : d;
    case LikelihoodKind::categorical: return d * levels;
    default: return d;
  }
}

std::string Likelihood::name() const {
  switch (kind) {
    case LikelihoodKind::bernoulli: return "bernoulli";
    case LikelihoodKind::gaussian: return learned_std ? "gaussian-learned-std" : fmt::format("gaussian-std-{}", gaussian_std);
    case LikelihoodKind::continuous_bernoulli: return "continuous-bernoulli";
    case LikelihoodKind::categorical: return fmt::format("categorical-{}", levels);
  }
  return "?";
}

Likelihood parse_likelihood(const std::string& s) {
  Likelihood l;
  if (s == "bernoulli") l.kind = LikelihoodKind::bernoulli;
  else if (s == "gaussian") l.kind = LikelihoodKind::gaussian;
  else if (s == "continuous-bernoulli") l.kind = LikelihoodKind::continuous_bernoulli;
  else if (s == "categorical") l.kind = LikelihoodKind::categorical;
  else
    throw ValueError(fmt::format("--likelihood: '{}' is not one of bernoulli, gaussian, continuous-bernoulli, categorical", s));
  return l;
}

// For lambda away from 1/2: log|2 atanh(1 - 2 lambda)| - log|1 - 2 lambda|, where
// 1 - 2 sigmoid(x) = -tanh(x / 2) and atanh(tanh(x / 2)) = x / 2, so log C = log|x| - log|tanh(x / 2)|.
// Near x = 0 (|x| < 1e-2): x / tanh(x/2) = 2 (1 + x^2/12 - x^4/720 + ...), so
// log C = log 2 + x^2 / 12 - 7 x^4 / 1440 + O(x^6).
Tensor continuous_bernoulli_log_norm(const Tensor& x) {
  const double cut = 1e-2;
  const Tensor small = lt(abs(x.detach()), full({}, cut, x.dtype()));
  // keep both branches finite so where() routes finite gradients
  const Tensor safe = where(small, full({}, cut, x.dtype()), x);
  const Tensor far = log(abs(safe)) - log(abs(tanh(safe * 0.5)));
  const Tensor x2 = square(x);
  const Tensor near = std::log(2.0) + x2 / 12.0 - square(x2) * (7.0 / 1440.0);
  return where(small, near, far);
}

Tensor Likelihood::log_prob(const Tensor& out, const Tensor& x) const {
  const int64_t b = x.shape()[0], d = x.shape()[1];
  ELBO_CHECK_SHAPE(out.dim() == 2 && out.shape()[0] == b && out.shape()[1] == out_features(d),
                   "{} likelihood: decoder output {} does not fit data {} (expected [{}, {}])", name(), out.shape(),
                   x.shape(), b, out_features(d));
  switch (kind) {
    case LikelihoodKind::bernoulli:
      return -sum(binary_cross_entropy_with_logits(out, x, Reduction::none), {1});
    case LikelihoodKind::continuous_bernoulli:
      return sum(continuous_bernoulli_log_norm(out) - binary_cross_entropy_with_logits(out, x, Reduction::none), {1});
    case LikelihoodKind::gaussian: {
      // log N(x; m, s^2) = -(x - m)^2 / (2 s^2) - log s - log(2 pi) / 2
      const double c = 0.5 * std::log(2 * std::numbers::pi);
      if (!learned_std) {
        const double s = gaussian_std;
        return sum(square(x - out) * (-0.5 / (s * s)), {1}) - double(d) * (std::log(s) + c);
      }
      const Tensor m = narrow(out, 1, 0, d), log_s = clamp(narrow(out, 1, d, d), -7.0, 2.0);
      return sum(square(x - m) * exp(-2.0 * log_s) * -0.5 - log_s, {1}) - double(d) * c;
    }
    case LikelihoodKind::categorical: {
      const Tensor logp = log_softmax(reshape(out, {b, d, levels}), 2);
      Tensor idx = empty({b, d, 1}, DType::i64);
      const std::vector<double> xv = x.to_vector<double>();
      int64_t* pi = idx.data<int64_t>();
      for (size_t i = 0; i < xv.size(); ++i)
        pi[i] = std::min<int64_t>(levels - 1, std::max<int64_t>(0, int64_t(std::floor(xv[i] * double(levels)))));
      return sum(reshape(gather(logp, 2, idx), {b, d}), {1});
    }
  }
  return Tensor();
}

Tensor Likelihood::mean(const Tensor& out) const {
  const int64_t d = out.shape()[1] / (kind == LikelihoodKind::categorical ? levels : learned_std && kind == LikelihoodKind::gaussian ? 2 : 1);
  switch (kind) {
    case LikelihoodKind::bernoulli: return sigmoid(out);
    case LikelihoodKind::gaussian: return clamp(narrow(out, 1, 0, d), 0.0, 1.0);
    case LikelihoodKind::continuous_bernoulli: {
      // E[x] = lambda / (2 lambda - 1) + 1 / (2 atanh(1 - 2 lambda)) = 1/(1 - e^-x) - 1/x, 1/2 at x = 0
      const Tensor small = lt(abs(out), full({}, 1e-3, out.dtype()));
      const Tensor safe = where(small, full({}, 1.0, out.dtype()), out);
      return where(small, full({}, 0.5, out.dtype()) + out / 12.0, 1.0 / (-expm1(-safe)) - 1.0 / safe);
    }
    case LikelihoodKind::categorical: {
      const int64_t b = out.shape()[0];
      const Tensor p = softmax(reshape(out, {b, d, levels}), 2);
      std::vector<double> c(static_cast<size_t>(levels));
      for (int64_t k = 0; k < levels; ++k) c[size_t(k)] = (double(k) + 0.5) / double(levels);
      return sum(p * tensor(c, {levels}, out.dtype()), {2});
    }
  }
  return Tensor();
}

}  // namespace elbo::models
