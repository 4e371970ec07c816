// Categorical and OneHotCategorical: torch.distributions' formulas with elbo ops.
#include "distributions/categorical.h"

#include <cmath>
#include <limits>
#include <span>
#include <string>

namespace elbo::dist {

namespace {
constexpr const char* kName = "Categorical";
constexpr const char* kOneHot = "OneHotCategorical";

void check_logits_shape(std::string_view dist, std::string_view what, const Tensor& t) {
  ELBO_CHECK_SHAPE(t.dim() >= 1 && t.shape().back() > 0,
                   "{}: {} must be [..., K] with K >= 1 classes in the last dim, got shape {}", dist, what, t.shape());
}

// x printed as the shortest decimal that reads back as the same value in dtype d (1.1f prints "1.1").
std::string shortest(double x, DType d) { return d == DType::f32 ? fmt::format("{}", float(x)) : fmt::format("{}", x); }

// Calls f(row, values of the row) for each row of the last dim, in double.
template <class F> void for_each_row(const Tensor& t, F f) {
  const std::vector<double> v = t.to_vector<double>();
  const int64_t k = t.dim() == 0 ? 1 : t.shape().back();
  for (int64_t r = 0; k > 0 && r < t.numel() / k; ++r) f(r, std::span<const double>(v.data() + r * k, size_t(k)));
}
}  // namespace

void check_simplex(std::string_view dist, std::string_view what, const Tensor& value) {
  check_constraint(dist, what, value, Constraint::nonnegative);
  for_each_row(value, [&](int64_t r, std::span<const double> row) {
    double s = 0;
    for (double x : row) s += x;
    ELBO_CHECK_VALUE(std::abs(s - 1) < 1e-6, "{}: {} {} must lie on the simplex (>= 0, summing to 1 over the last "
                     "dim; found row {} summing to {})", dist, what, value.shape(), r, shortest(s, value.dtype()));
  });
}

void check_one_hot(std::string_view dist, std::string_view what, const Tensor& value) {
  for_each_row(value, [&](int64_t r, std::span<const double> row) {
    int64_t ones = 0;
    bool binary = true;
    for (double x : row) ones += x == 1, binary = binary && (x == 0 || x == 1);
    ELBO_CHECK_VALUE(binary && ones == 1, "{}: {} {} must be one-hot over the last dim (exactly one 1, the rest 0; "
                     "found row {} with {})", dist, what, value.shape(), r,
                     binary ? fmt::format("{} ones", ones) : std::string("a value other than 0 and 1"));
  });
}

// ---- Categorical ----

Categorical::Categorical(const Tensor& logits) {
  check_floating(kName, "logits", logits);
  check_logits_shape(kName, "logits", logits);
  validate(kName, "logits", logits, Constraint::real);
  logits_ = log_softmax(logits, -1);  // logits - logsumexp(logits, -1)
}

Categorical Categorical::from_probs(const Tensor& probs) {
  check_floating(kName, "probs", probs);
  check_logits_shape(kName, "probs", probs);
  if (validate_args()) {
    check_constraint(kName, "probs", probs, Constraint::nonnegative);
    for_each_row(probs, [&](int64_t r, std::span<const double> row) {
      double s = 0;
      for (double x : row) s += x;
      ELBO_CHECK_VALUE(s > 0 && std::isfinite(s), "{}: probs {} must have a positive, finite sum over the last dim "
                       "(found row {} summing to {})", kName, probs.shape(), r, shortest(s, probs.dtype()));
    });
  }
  const Tensor p = probs / sum(probs, {-1}, true);
  const double eps = probs.dtype() == DType::f32 ? double(std::numeric_limits<float>::epsilon())
                                                 : std::numeric_limits<double>::epsilon();
  return Categorical(log(clamp(p, eps, 1 - eps)), p);
}

Tensor Categorical::probs() const { return probs_.defined() ? probs_ : softmax(logits_, -1); }

Shape Categorical::batch_shape() const { return Shape(logits_.shape().begin(), logits_.shape().end() - 1); }

Tensor Categorical::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  const Tensor l = expand_to(logits_.detach(), extended_shape(sample_shape, batch_shape(), {num_events()}));
  return categorical(l, gen);  // Gumbel-max over the last dim
}

// log p(k) = logits[..., k] (logits are normalized): gather along the last dim.
Tensor Categorical::log_prob(const Tensor& value) const {
  ELBO_CHECK(value.defined() && value.dtype() == DType::i64,
             "{}: value must be an i64 tensor of class indices, got {} {} (sample() returns i64)", kName,
             value.defined() ? name(value.dtype()) : "undefined", value.defined() ? value.shape() : Shape{});
  bool same = value.dim() + 1 == logits_.dim();  // value's shape is batch_shape: no broadcast (the common case)
  for (int64_t i = 0; same && i < value.dim(); ++i) same = value.size(i) == logits_.size(i);
  if (!same) check_value_shape(kName, value, IntList(logits_.shape().data(), logits_.shape().size() - 1));
  if (validate_args()) {
    const int64_t k = num_events(), *v = value.data<const int64_t>();
    for (int64_t i = 0; i < value.numel(); ++i)
      ELBO_CHECK_VALUE(v[i] >= 0 && v[i] < k, "{}: value {} must be a class index in [0, {}) (found {} at index {})",
                       kName, value.shape(), k, v[i], i);
  }
  if (same) return squeeze(gather(logits_, -1, unsqueeze(value, -1)), -1);
  if (logits_.dim() == 1 && value.dim() == 1) return index_select(logits_, 0, value);  // batch []: p(y) of labels
  const Shape s = value_shape(kName, value, batch_shape());
  const Tensor index = expand_to(unsqueeze(value, -1), extended_shape(s, {1}));
  return squeeze(gather(expand_to(logits_, extended_shape(s, {num_events()})), -1, index), -1);
}

// H = -sum_k p_k log p_k; logits are clamped to the lowest finite value so that p_k = 0 with
// logits = -inf contributes 0, not NaN (as torch).
Tensor Categorical::entropy() const {
  const double lowest = logits_.dtype() == DType::f32 ? double(std::numeric_limits<float>::lowest())
                                                      : std::numeric_limits<double>::lowest();
  const Tensor l = clamp(logits_, lowest, std::numeric_limits<double>::infinity());
  return -sum(l * probs(), {-1});
}

// ---- OneHotCategorical ----

Tensor OneHotCategorical::sample(Generator& gen, const Shape& sample_shape) const {
  return one_hot(cat_.sample(gen, sample_shape), num_events(), dtype());
}

Tensor OneHotCategorical::log_prob(const Tensor& value) const {
  check_floating(kOneHot, "value", value);
  check_value_shape(kOneHot, value, batch_shape(), event_shape());
  if (validate_args()) check_one_hot(kOneHot, "value", value);
  return cat_.log_prob(argmax(value.detach(), -1));
}

Tensor OneHotCategorical::variance() const {
  const Tensor p = cat_.probs();
  return p * (1.0 - p);
}

}  // namespace elbo::dist
