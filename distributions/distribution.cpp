// The validation switch and the shape helpers shared by every family.
#include "distributions/distribution.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

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
// Whether every element holds, as one SIMD pass (count_outside): each constraint is an interval.
template <class T> bool all_hold(Constraint c, const Tensor& t) {
  using L = std::numeric_limits<T>;
  switch (c) {
    case Constraint::real: return count_outside(t, -L::infinity(), L::infinity()) == 0;
    case Constraint::finite: return count_outside(t, L::lowest(), L::max()) == 0;
    case Constraint::positive: return count_outside(t, L::denorm_min(), L::infinity()) == 0;
    case Constraint::nonnegative: return count_outside(t, 0, L::infinity()) == 0;
    case Constraint::unit_interval: return count_outside(t, 0, 1) == 0;
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
    const int64_t n = t.numel();
    if (all_hold<T>(c, t)) return;  // the common case: one SIMD pass
    for (int64_t i = 0; i < n; ++i)
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

namespace {
// Dim i counted from the right (0 = last) of shape, 1 beyond its rank (numpy's alignment).
int64_t from_right(IntList s, size_t i) { return i < s.size() ? s[s.size() - 1 - i] : 1; }
bool broadcastable(IntList a, IntList b) {
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const int64_t da = from_right(a, i), db = from_right(b, i);
    if (da != db && da != 1 && db != 1) return false;
  }
  return true;
}
}  // namespace

Shape broadcast_shape(std::string_view dist, std::string_view what_a, const Shape& a, std::string_view what_b,
                      const Shape& b) {
  check_broadcast(dist, what_a, a, what_b, b);
  const size_t n = std::max(a.size(), b.size());
  Shape s(n);
  for (size_t i = 0; i < n; ++i) s[n - 1 - i] = from_right(a, i) == 1 ? from_right(b, i) : from_right(a, i);
  return s;
}

void check_broadcast(std::string_view dist, std::string_view what_a, IntList a, std::string_view what_b, IntList b) {
  ELBO_CHECK_SHAPE(broadcastable(a, b), "{}: {} {} and {} {} cannot be broadcast together", dist, what_a, a.vec(),
                   what_b, b.vec());
}

detail::Dims broadcast_dims(std::string_view dist, std::string_view what_a, IntList a, std::string_view what_b,
                            IntList b) {
  check_broadcast(dist, what_a, a, what_b, b);
  const size_t n = std::max(a.size(), b.size());
  detail::Dims s(n);
  for (size_t i = 0; i < n; ++i) s[n - 1 - i] = from_right(a, i) == 1 ? from_right(b, i) : from_right(a, i);
  return s;
}

Tensor expand_to(const Tensor& x, IntList shape) { return IntList(x.shape()) == shape ? x : expand(x, shape); }

Shape extended_shape(const Shape& sample_shape, const Shape& batch_shape, const Shape& event_shape) {
  Shape s = sample_shape;
  s.insert(s.end(), batch_shape.begin(), batch_shape.end());
  s.insert(s.end(), event_shape.begin(), event_shape.end());
  return s;
}

detail::Dims extended_dims(IntList sample_shape, IntList batch_shape, IntList event_shape) {
  detail::Dims s(sample_shape.begin(), sample_shape.end());
  s.insert(s.end(), batch_shape.begin(), batch_shape.end());
  s.insert(s.end(), event_shape.begin(), event_shape.end());
  return s;
}

void check_value_shape(std::string_view dist, const Tensor& value, IntList batch_shape, IntList event_shape) {
  ELBO_CHECK(value.defined(), "{}: value is an undefined tensor", dist);
  const Shape& v = value.shape();
  const size_t ne = event_shape.size();
  const bool event_ok = v.size() >= ne && std::equal(event_shape.begin(), event_shape.end(), v.end() - long(ne));
  ELBO_CHECK_SHAPE(event_ok, "{}: value {} must end in the event_shape {} (batch_shape {})", dist, v, event_shape.vec(),
                   batch_shape.vec());
  // the value's dims left of the event against batch_shape
  if (!broadcastable(IntList(v.data(), v.size() - ne), batch_shape))
    broadcast_shape(dist, "value", v, "batch_shape ++ event_shape", extended_shape({}, batch_shape.vec(), event_shape.vec()));
}

Shape value_shape(std::string_view dist, const Tensor& value, const Shape& batch_shape, const Shape& event_shape) {
  check_value_shape(dist, value, batch_shape, event_shape);
  return broadcast_shape(dist, "value", value.shape(), "batch_shape ++ event_shape",
                         extended_shape({}, batch_shape, event_shape));
}

Tensor sum_rightmost(const Tensor& x, int64_t n) {
  if (n == 0) return x;
  ELBO_CHECK_SHAPE(n > 0 && n <= x.dim(), "sum_rightmost: cannot sum the last {} dims of {}", n, x.shape());
  if (n == 1) return sum(x, {-1});  // the common case, without building a list
  const Shape dims = [&] {
    Shape d;
    for (int64_t i = 1; i <= n; ++i) d.push_back(-i);
    return d;
  }();
  return sum(x, dims);
}

DType common_dtype(const Tensor& a, const Tensor& b) {
  return a.dtype() == DType::f64 || b.dtype() == DType::f64 ? DType::f64 : DType::f32;
}

}  // namespace elbo::dist
