#pragma once
// Element types and shapes. f32 is the default; i64 holds indices and never requires grad.
// with_float / with_dtype turn a runtime DType into a compile-time element type for a lambda.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <ranges>
#include <string_view>
#include <type_traits>
#include <vector>

#include "error.h"

namespace elbo {

enum class DType : uint8_t { f32, f64, i64 };
using Shape = std::vector<int64_t>;

// A borrowed list of int64_t: what ops take for shapes and dims. A Shape, a braced list ({2, -1}) or any
// contiguous int64_t range converts to it without building a vector, so `reshape(x, {b, -1})` allocates
// nothing. It points into storage the caller keeps alive for the call: never store one.
class IntList {
 public:
  constexpr IntList() = default;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"  // borrowing the list for the call is the point
#endif
  constexpr IntList(std::initializer_list<int64_t> l) : data_(l.begin()), size_(l.size()) {}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  template <class R>
    requires(!std::is_same_v<std::remove_cvref_t<R>, IntList> && std::ranges::contiguous_range<R> &&
             std::ranges::sized_range<R> && std::is_same_v<std::ranges::range_value_t<R>, int64_t>)
  constexpr IntList(const R& r) : data_(std::ranges::data(r)), size_(std::ranges::size(r)) {}
  constexpr IntList(const int64_t* data, size_t size) : data_(data), size_(size) {}

  constexpr const int64_t* begin() const { return data_; }
  constexpr const int64_t* end() const { return data_ + size_; }
  constexpr const int64_t* data() const { return data_; }
  constexpr size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr int64_t operator[](size_t i) const { return data_[i]; }
  constexpr int64_t back() const { return data_[size_ - 1]; }
  Shape vec() const { return Shape(begin(), end()); }

  friend constexpr bool operator==(IntList a, IntList b) { return std::ranges::equal(a, b); }

 private:
  const int64_t* data_ = nullptr;
  size_t size_ = 0;
};

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

int64_t numel_of(IntList s);

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
