// The validation switch and the shape helpers shared by every family.
#include "distributions/distribution.h"

#include <algorithm>
#include <atomic>
#include <cmath>

namespace elbo::dist {

namespace {
std::atomic<bool> g_validate{true};
thread_local int t_override = -1;  // -1: follow the process-wide default

std::string_view phrase(Constraint c) {
  switch (c) {
    case Constraint::real: return "not be NaN";
    case Constraint::finite: return "be finite";
    case Constraint::positive: return "be > 0";
    case Constraint::nonnegative: return "be >= 0";
    case Constraint::unit_interval: return "be in [0, 1]";
  }
  return "?";
}
template <class T> bool holds(Constraint c, T v) {
  switch (c) {
    case Constraint::real: return !std::isnan(v);
    case Constraint::finite: return std::isfinite(v);
    case Constraint::positive: return v > T(0);  // false for NaN too
    case Constraint::nonnegative: return v >= T(0);
    case Constraint::unit_interval: return v >= T(0) && v <= T(1);
  }
  return false;
}
}  // namespace

bool validate_args() { return t_override < 0 ? g_validate.load(std::memory_order_relaxed) : t_override == 1; }
void set_validate_args(bool on) { g_validate.store(on, std::memory_order_relaxed); }

ValidateArgsGuard::ValidateArgsGuard(bool on) : prev_(t_override) { t_override = on ? 1 : 0; }
ValidateArgsGuard::~ValidateArgsGuard() { t_override = prev_; }

void check_constraint(std::string_view dist, std::string_view what, const Tensor& t, Constraint c) {
  with_float(t.dtype(), "distribution", [&](auto z) {
    using T = decltype(z);
    const T* p = t.data<const T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      ELBO_CHECK_VALUE(holds(c, p[i]), "{}: {} {} must {} (found {} at index {})", dist, what, t.shape(), phrase(c),
                       p[i], i);
  });
}

void validate(std::string_view dist, std::string_view what, const Tensor& t, Constraint c) {
  if (validate_args()) check_constraint(dist, what, t, c);
}

void check_floating(std::string_view dist, std::string_view what, const Tensor& t) {
  ELBO_CHECK(t.defined(), "{}: {} is an undefined tensor", dist, what);
  ELBO_CHECK(is_floating(t.dtype()), "{}: {} must be a floating-point tensor (f32 or f64), got {} {}", dist, what,
             t.dtype(), t.shape());
}

Shape broadcast_shape(std::string_view dist, std::string_view what_a, const Shape& a, std::string_view what_b,
                      const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape s(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ELBO_CHECK_SHAPE(da == db || da == 1 || db == 1, "{}: {} {} and {} {} cannot be broadcast together", dist, what_a,
                     a, what_b, b);
    s[i] = da == 1 ? db : da;
  }
  return s;
}

Tensor expand_to(const Tensor& x, const Shape& shape) { return x.shape() == shape ? x : expand(x, shape); }

Shape extended_shape(const Shape& sample_shape, const Shape& batch_shape, const Shape& event_shape) {
  Shape s = sample_shape;
  s.insert(s.end(), batch_shape.begin(), batch_shape.end());
  s.insert(s.end(), event_shape.begin(), event_shape.end());
  return s;
}

Shape check_value_shape(std::string_view dist, const Tensor& value, const Shape& batch_shape, const Shape& event_shape) {
  ELBO_CHECK(value.defined(), "{}: value is an undefined tensor", dist);
  const Shape& v = value.shape();
  const size_t ne = event_shape.size();
  const bool event_ok = v.size() >= ne && std::equal(event_shape.begin(), event_shape.end(), v.end() - long(ne));
  ELBO_CHECK_SHAPE(event_ok, "{}: value {} must end in the event_shape {} (batch_shape {})", dist, v, event_shape,
                   batch_shape);
  const Shape full = extended_shape({}, batch_shape, event_shape);
  return broadcast_shape(dist, "value", v, "batch_shape ++ event_shape", full);
}

Tensor sum_rightmost(const Tensor& x, int64_t n) {
  if (n == 0) return x;
  ELBO_ASSERT(n > 0 && n <= x.dim());
  Shape dims;
  for (int64_t i = 1; i <= n; ++i) dims.push_back(-i);
  return sum(x, dims);
}

DType common_dtype(const Tensor& a, const Tensor& b) {
  return a.dtype() == DType::f64 || b.dtype() == DType::f64 ? DType::f64 : DType::f32;
}

}  // namespace elbo::dist
