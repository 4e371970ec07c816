#pragma once
// Element types and shapes. f32 is the default; i64 holds indices and never requires grad.
// with_float / with_dtype turn a runtime DType into a compile-time element type for a lambda.
#include <cstdint>
#include <string_view>
#include <vector>

#include "error.h"

namespace elbo {

enum class DType : uint8_t { f32, f64, i64 };
using Shape = std::vector<int64_t>;

constexpr std::string_view name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
  }
  return "?";
}
constexpr size_t itemsize(DType d) { return d == DType::f32 ? 4 : 8; }
constexpr bool is_floating(DType d) { return d != DType::i64; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }

int64_t numel_of(const Shape& s);

// Calls f(T{}) with T = float or double; `op` names the caller in the error for i64.
template <class F> decltype(auto) with_float(DType d, const char* op, F&& f) {
  if (d == DType::f32) return f(float{});
  ELBO_CHECK(d == DType::f64, "{}: expected a floating-point tensor (f32 or f64), got {}", op, name(d));
  return f(double{});
}
template <class F> decltype(auto) with_dtype(DType d, F&& f) {
  if (d == DType::f32) return f(float{});
  if (d == DType::f64) return f(double{});
  return f(int64_t{});
}

}  // namespace elbo

template <> struct fmt::formatter<elbo::DType> : fmt::formatter<std::string_view> {
  auto format(elbo::DType d, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(elbo::name(d), ctx);
  }
};
