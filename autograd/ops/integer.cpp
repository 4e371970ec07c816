// Integer (i64) arithmetic, as torch does it: add, sub, mul, remainder, comparisons, maximum/minimum
// exactly in int64 with broadcasting; true division and any float operand give floats. i64 tensors never
// require grad, so nothing here records. remainder for floats (with its backward) lives here too.
#include <cmath>

#include "autograd/ops/common.h"

namespace elbo {
namespace {
// Python's modulo: the result has the divisor's sign (as torch.remainder).
int64_t py_mod(int64_t a, int64_t b) {
  const int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
template <class T> T py_fmod(T a, T b) {
  const T r = std::fmod(a, b);
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
}  // namespace
}  // namespace elbo

namespace elbo::detail {

Tensor int_binary(const char* op, const Tensor& a, const Tensor& b, IntOp k) {
  ELBO_ASSERT(a.dtype() == DType::i64 && b.dtype() == DType::i64);
  const Dims shape = broadcast_shapes(op, a.shape(), b.shape());
  const Tensor av = a.shape() == IntList(shape) ? a : broadcast_copy(a, shape);
  const Tensor bv = b.shape() == IntList(shape) ? b : broadcast_copy(b, shape);
  Tensor y = empty(shape, DType::i64);
  const int64_t *pa = av.data<const int64_t>(), *pb = bv.data<const int64_t>();
  int64_t* py = y.data<int64_t>();
  const int64_t n = y.numel();
  if (k == IntOp::remainder)
    for (int64_t i = 0; i < n; ++i)
      ELBO_CHECK_VALUE(pb[i] != 0, "{}: integer division by zero (divisor {} at index {})", op, b.shape(), i);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x = pa[i], z = pb[i];
    switch (k) {
      case IntOp::add: py[i] = x + z; break;
      case IntOp::sub: py[i] = x - z; break;
      case IntOp::mul: py[i] = x * z; break;
      case IntOp::remainder: py[i] = py_mod(x, z); break;
      case IntOp::maximum: py[i] = x >= z ? x : z; break;
      case IntOp::minimum: py[i] = x <= z ? x : z; break;
      case IntOp::eq: py[i] = x == z; break;
      case IntOp::ne: py[i] = x != z; break;
      case IntOp::lt: py[i] = x < z; break;
      case IntOp::le: py[i] = x <= z; break;
      case IntOp::gt: py[i] = x > z; break;
      case IntOp::ge: py[i] = x >= z; break;
    }
  }
  return y;
}

Tensor int_affine(const Tensor& x, int64_t scale, int64_t shift) {
  Tensor y = empty(x.shape(), DType::i64);
  const int64_t* px = x.data<const int64_t>();
  int64_t* py = y.data<int64_t>();
  for (int64_t i = 0; i < x.numel(); ++i) py[i] = px[i] * scale + shift;
  return y;
}

}  // namespace elbo::detail

namespace elbo {

// a - floor(a / b) * b, the divisor's sign (torch.remainder); d/da = 1, d/db = -floor(a / b).
Tensor remainder(const Tensor& a0, const Tensor& b0) {
  if (a0.dtype() == DType::i64 && b0.dtype() == DType::i64)
    return detail::int_binary("remainder", a0, b0, detail::IntOp::remainder);
  const DType d = a0.dtype() == DType::i64 ? b0.dtype() : b0.dtype() == DType::i64 ? a0.dtype()
                                                                                    : detail::promote("remainder", a0, b0);
  const Tensor a = a0.to(d), b = b0.to(d);
  const detail::Dims shape = detail::broadcast_shapes("remainder", a.shape(), b.shape());
  const Tensor av = detail::broadcast_copy(a.detach(), shape), bv = detail::broadcast_copy(b.detach(), shape);
  Tensor y = empty(shape, d), q = empty(shape, d);
  with_float(d, "remainder", [&](auto t) {
    using T = decltype(t);
    const T *pa = av.data<const T>(), *pb = bv.data<const T>();
    for (int64_t i = 0; i < y.numel(); ++i) {
      y.data<T>()[i] = py_fmod(pa[i], pb[i]);
      q.data<T>()[i] = std::floor(pa[i] / pb[i]);
    }
  });
  return record(op::remainder, y, {a, b}, [q, sa = detail::dims_of(a.shape()), sb = detail::dims_of(b.shape())](const Tensor& gy) {
    return Grads{sum_to(gy, sa), sum_to(-gy * q, sb)};
  });
}

Tensor remainder(const Tensor& a, double b) {
  const bool integral = a.dtype() == DType::i64 && b == std::floor(b);
  return remainder(a, full({}, b, integral ? DType::i64 : a.dtype() == DType::i64 ? DType::f32 : a.dtype()));
}
Tensor operator%(const Tensor& a, const Tensor& b) { return remainder(a, b); }
Tensor operator%(const Tensor& a, double b) { return remainder(a, b); }

Tensor arange(double start, double end, double step, DType dtype) {
  ELBO_CHECK_VALUE(step != 0 && std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
                   "arange: start {}, end {} and step {} must be finite, and step nonzero", start, end, step);
  const double count = std::ceil((end - start) / step);
  const int64_t n = count > 0 ? int64_t(count) : 0;
  Tensor t = empty({n}, dtype);
  with_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    for (int64_t i = 0; i < n; ++i) t.data<T>()[i] = T(start + double(i) * step);
  });
  return t;
}

Tensor arange(double start, double end, double step) {
  const bool integral = start == std::floor(start) && end == std::floor(end) && step == std::floor(step);
  return arange(start, end, step, integral ? DType::i64 : DType::f32);  // as torch infers it
}

}  // namespace elbo
