#pragma once
// Internal helpers shared by the op families: spans over tensors, dtype promotion, broadcasting plans
// and kernel-backed forward functions that do not record (backward closures call them too).
#include <span>

#include "../kernels/kernels.h"
#include "../ops.h"

namespace elbo::detail {

template <class T> std::span<const T> in(const Tensor& t) { return {t.data<const T>(), size_t(t.numel())}; }
template <class T> std::span<T> out(const Tensor& t) { return {t.data<T>(), size_t(t.numel())}; }

// Normalizes a possibly negative dim; the error names the op and the shape.
int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim);

// The common floating dtype of two operands (f64 if either is f64); i64 operands are an error unless
// both are i64 and allow_int.
DType promote(const char* op, const Tensor& a, const Tensor& b, bool allow_int = false);

Dims broadcast_shapes(const char* op, IntList a, IntList b);

// y = f(x) elementwise, no recording.
Tensor unary_kernel(const char* op, const Tensor& x, kernels::Unary k, double p0 = 0, double p1 = 0);
// y = f(a, b) with broadcasting, no recording; a and b must share the dtype.
Tensor binary_kernel(const char* op, const Tensor& a, const Tensor& b, kernels::Binary k);
// x broadcast (copied) to shape, no recording.
Tensor broadcast_copy(const Tensor& x, IntList shape);

// Integer arithmetic (ops/integer.cpp): a and b both i64, broadcast; comparisons give 0/1.
enum class IntOp { add, sub, mul, remainder, maximum, minimum, eq, ne, lt, le, gt, ge };
Tensor int_binary(const char* op, const Tensor& a, const Tensor& b, IntOp k);
Tensor int_affine(const Tensor& x, int64_t scale, int64_t shift);  // x * scale + shift

// Splits shape around dim: outer = prod(shape[:dim]), r = shape[dim], inner = prod(shape[dim+1:]).
struct Split3 {
  int64_t outer, r, inner;
};
Split3 split_at(IntList s, int64_t dim);

// Shape with dims removed (or set to 1 with keepdim); dims must be wrapped and sorted.
Dims reduced_shape(IntList s, IntList dims, bool keepdim);

}  // namespace elbo::detail
