// Elementwise binary ops with numpy broadcasting. Backward of a broadcasting op ends in
// sum_to(g, input shape) for both inputs.
#include <algorithm>
#include <cmath>

#include "autograd/ops/common.h"

namespace elbo {
namespace detail {

int64_t wrap_dim(const char* op, int64_t dim, int64_t ndim) {
  ELBO_CHECK_SHAPE(dim >= -ndim && dim < std::max<int64_t>(ndim, 1),
                   "{}: dim {} out of range for a tensor with {} dims", op, dim, ndim);
  return dim < 0 ? dim + ndim : dim;
}

DType promote(const char* op, const Tensor& a, const Tensor& b, bool allow_int) {
  const DType x = a.dtype(), y = b.dtype();
  if (x == DType::i64 || y == DType::i64) {
    ELBO_CHECK(allow_int && x == y, "{}: i64 operands ({} {} and {} {}) hold indices, not values; convert "
               "with .to(DType::f32)", op, x, a.shape(), y, b.shape());
    return DType::i64;
  }
  return (x == DType::f64 || y == DType::f64) ? DType::f64 : DType::f32;
}

Dims broadcast_shapes(const char* op, IntList a, IntList b) {
  const size_t n = std::max(a.size(), b.size());
  Dims s(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ELBO_CHECK_SHAPE(da == db || da == 1 || db == 1,
                     "{}: shapes {} and {} cannot be broadcast (dim {}: {} vs {})", op, a, b, i, da, db);
    s[i] = da == 1 ? db : da;
  }
  return s;
}

namespace {
// Strides of x viewed as broadcast to `shape` (0 along broadcast dims), with dims merged where both
// operands stay contiguous, so the innermost loop is as long as possible.
struct Plan {
  Dims size, sa, sb;
};
Dims bstrides(IntList xs, IntList shape) {
  Dims st(shape.size(), 0);
  int64_t acc = 1;
  for (int64_t i = int64_t(shape.size()) - 1, j = int64_t(xs.size()) - 1; i >= 0; --i, --j) {
    const int64_t d = j >= 0 ? xs[size_t(j)] : 1;
    st[size_t(i)] = d == 1 ? 0 : acc;
    acc *= d;
  }
  return st;
}
Plan make_plan(IntList a, IntList b, IntList shape) {
  Dims sa = bstrides(a, shape), sb = bstrides(b, shape);
  Plan p;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!p.size.empty() && p.sa.back() == sa[i] * shape[i] && p.sb.back() == sb[i] * shape[i]) {
      p.size.back() *= shape[i];
      p.sa.back() = sa[i];
      p.sb.back() = sb[i];
      continue;
    }
    p.size.push_back(shape[i]);
    p.sa.push_back(sa[i]);
    p.sb.push_back(sb[i]);
  }
  if (p.size.empty()) p.size = {1}, p.sa = {0}, p.sb = {0};
  return p;
}
// Calls inner(offset_a, offset_b, offset_y) for every row of the innermost merged dim.
template <class F> void for_rows(const Plan& p, F&& inner) {
  const size_t nd = p.size.size();
  const int64_t n = p.size.back();
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < nd; ++i) rows *= p.size[i];
  Dims idx(nd, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t r = 0; r < rows; ++r) {
    inner(oa, ob, r * n);
    for (int64_t d = int64_t(nd) - 2; d >= 0; --d) {  // odometer over the outer dims
      const size_t k = size_t(d);
      oa += p.sa[k], ob += p.sb[k];
      if (++idx[k] < p.size[k]) break;
      oa -= p.sa[k] * p.size[k], ob -= p.sb[k] * p.size[k];
      idx[k] = 0;
    }
  }
}
}  // namespace

Tensor binary_kernel(const char* op, const Tensor& a, const Tensor& b, kernels::Binary k) {
  const bool same = a.shape() == b.shape();
  const Dims broadcast = same ? Dims() : broadcast_shapes(op, a.shape(), b.shape());
  const IntList shape = same ? IntList(a.shape()) : IntList(broadcast);
  Tensor y = empty(shape, a.dtype());
  if (y.numel() == 0) return y;
  with_float(a.dtype(), op, [&](auto t) {
    using T = decltype(t);
    const T* pa = a.data<const T>();
    const T* pb = b.data<const T>();
    T* py = y.data<T>();
    const size_t n = size_t(y.numel());
    if (a.numel() == y.numel() && b.numel() == y.numel()) return kernels::binary<T>(k, {pa, n}, {pb, n}, {py, n});
    if (a.numel() == y.numel() && b.numel() == 1) return kernels::binary<T>(k, {pa, n}, {pb, 1}, {py, n});
    if (a.numel() == 1 && b.numel() == y.numel()) return kernels::binary<T>(k, {pa, 1}, {pb, n}, {py, n});
    const Plan p = make_plan(a.shape(), b.shape(), shape);
    const size_t m = size_t(p.size.back());
    const size_t na = p.sa.back() == 0 ? 1 : m, nb = p.sb.back() == 0 ? 1 : m;
    for_rows(p, [&](int64_t oa, int64_t ob, int64_t oy) {
      kernels::binary<T>(k, {pa + oa, na}, {pb + ob, nb}, {py + oy, m});
    });
  });
  return y;
}

Tensor broadcast_copy(const Tensor& x, IntList shape) {
  broadcast_shapes("expand", x.shape(), shape);
  Tensor y = empty(shape, x.dtype());
  if (y.numel() == 0) return y;
  const Plan p = make_plan(x.shape(), {}, shape);
  const int64_t m = p.size.back();
  with_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* px = x.data<const T>();
    T* py = y.data<T>();
    for_rows(p, [&](int64_t ox, int64_t, int64_t oy) {
      if (p.sa.back() == 0) std::fill(py + oy, py + oy + m, px[ox]);
      else std::copy(px + ox, px + ox + m, py + oy);
    });
  });
  return y;
}

}  // namespace detail

using detail::binary_kernel;
using kernels::Binary;

using detail::IntOp;

namespace {
// Promotes both operands to their common dtype (differentiably) before the kernel runs. Two i64 operands
// stay i64 (the integer path); an i64 beside a float becomes that float, as torch promotes.
std::pair<Tensor, Tensor> promoted(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() == DType::i64 && b.dtype() != DType::i64) return {a.to(b.dtype()), b};
  if (b.dtype() == DType::i64 && a.dtype() != DType::i64) return {a, b.to(a.dtype())};
  const DType d = detail::promote(op, a, b, true);
  return {a.to(d), b.to(d)};
}
bool ints(const Tensor& a) { return a.dtype() == DType::i64; }
}  // namespace

Tensor add(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted("add", a0, b0);
  if (ints(a)) return detail::int_binary("add", a, b, IntOp::add);
  Tensor y = binary_kernel("add", a, b, Binary::add);
  return record(op::add, y, {a, b}, [sa = detail::dims_of(a.shape()), sb = detail::dims_of(b.shape())](const Tensor& gy) {
    return Grads{sum_to(gy, sa), sum_to(gy, sb)};
  });
}

Tensor sub(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted("sub", a0, b0);
  if (ints(a)) return detail::int_binary("sub", a, b, IntOp::sub);
  Tensor y = binary_kernel("sub", a, b, Binary::sub);
  return record(op::sub, y, {a, b}, [sa = detail::dims_of(a.shape()), sb = detail::dims_of(b.shape())](const Tensor& gy) {
    return Grads{sum_to(gy, sa), sum_to(-gy, sb)};
  });
}

Tensor mul(const Tensor& a0, const Tensor& b0) {
  auto [a, b] = promoted("mul", a0, b0);
  if (ints(a)) return detail::int_binary("mul", a, b, IntOp::mul);
  Tensor y = binary_kernel("mul", a, b, Binary::mul);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op::mul, y, {a, b}, [a, b, ga, gb](const Tensor& gy) {
    // d(ab)/da = b, d(ab)/db = a
    return Grads{ga ? sum_to(gy * b, a.shape()) : Tensor(), gb ? sum_to(gy * a, b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a0, const Tensor& b0) {
  if (ints(a0) && ints(b0)) return div(a0.to(DType::f32), b0.to(DType::f32));  // true division, as torch
  auto [a, b] = promoted("div", a0, b0);
  Tensor y = binary_kernel("div", a, b, Binary::div);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op::div, y, {a, b}, [y, a, b, ga, gb](const Tensor& gy) {
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -y/b
    Tensor gq = gy / b;
    return Grads{ga ? sum_to(gq, a.shape()) : Tensor(),
                 gb ? sum_to(-gq * detail::linked(y), b.shape()) : Tensor()};
  });
}

Tensor pow(const Tensor& a0, const Tensor& b0) {
  const DType d = detail::promote("pow", a0, b0);  // i64 operands: an error that says to convert
  const Tensor a = a0.to(d), b = b0.to(d);
  Tensor y = binary_kernel("pow", a, b, Binary::pow);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op::pow, y, {a, b}, [y, a, b, ga, gb](const Tensor& gy) {
    // d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a (taken as 0 where a == 0, as torch)
    Tensor g_a, g_b;
    if (ga) g_a = sum_to(gy * b * pow(a, b - 1.0), a.shape());
    if (gb) g_b = sum_to(gy * detail::linked(y) * where(eq(a, zeros({}, a.dtype())), zeros({}, a.dtype()), log(a)), b.shape());
    return Grads{g_a, g_b};
  });
}

Tensor pow(const Tensor& x, double p) {
  Tensor y = detail::unary_kernel("pow", x, kernels::Unary::pow_scalar, p);
  return record(op::pow, y, {x}, [x, p](const Tensor& gy) {
    return Grads{gy * (p * pow(x, p - 1))};  // d x^p = p x^(p-1)
  });
}

namespace {
// maximum/minimum: the gradient goes to a where it wins (ties to a), else to b.
Tensor extreme(const Op& op, const Tensor& a0, const Tensor& b0, Binary k, Binary pick_a) {
  auto [a, b] = promoted(op.name, a0, b0);
  if (ints(a)) return detail::int_binary(op.name, a, b, k == Binary::maximum ? IntOp::maximum : IntOp::minimum);
  Tensor y = binary_kernel(op.name, a, b, k);
  return record(op, y, {a, b}, [a = a.detach(), b = b.detach(), pick_a](const Tensor& gy) {
    Tensor m = binary_kernel("mask", a, b, pick_a);
    return Grads{sum_to(gy * m, a.shape()), sum_to(gy * (1.0 - m), b.shape())};
  });
}
Tensor compare(const char* op, const Tensor& a0, const Tensor& b0, Binary k) {
  auto [a, b] = promoted(op, a0, b0);
  if (ints(a)) {
    const IntOp i = k == Binary::eq ? IntOp::eq : k == Binary::ne ? IntOp::ne : k == Binary::lt ? IntOp::lt
                  : k == Binary::le ? IntOp::le : k == Binary::gt ? IntOp::gt : IntOp::ge;
    return detail::int_binary(op, a, b, i);
  }
  return binary_kernel(op, a.detach(), b.detach(), k);
}
}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return extreme(op::maximum, a, b, Binary::maximum, Binary::ge); }
Tensor minimum(const Tensor& a, const Tensor& b) { return extreme(op::minimum, a, b, Binary::minimum, Binary::le); }
Tensor eq(const Tensor& a, const Tensor& b) { return compare("eq", a, b, Binary::eq); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare("ne", a, b, Binary::ne); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare("lt", a, b, Binary::lt); }
Tensor le(const Tensor& a, const Tensor& b) { return compare("le", a, b, Binary::le); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare("gt", a, b, Binary::gt); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare("ge", a, b, Binary::ge); }

Tensor where(const Tensor& cond, const Tensor& a0, const Tensor& b0) {
  const DType d = detail::promote("where", a0, b0);
  const Tensor a = a0.to(d), b = b0.to(d);
  const detail::Dims shape =
      detail::broadcast_shapes("where", detail::broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  // mask in {0, 1}: y = b + m * (a - b) would lose precision and propagate inf; select instead.
  Tensor m = detail::broadcast_copy(cond.to(a.dtype()).detach(), shape);
  Tensor av = detail::broadcast_copy(a.detach(), shape), bv = detail::broadcast_copy(b.detach(), shape);
  Tensor y = empty(shape, a.dtype());
  with_float(a.dtype(), "where", [&](auto t) {
    using T = decltype(t);
    const T *pm = m.data<const T>(), *pa = av.data<const T>(), *pb = bv.data<const T>();
    T* py = y.data<T>();
    for (int64_t i = 0; i < y.numel(); ++i) py[i] = pm[i] != T(0) ? pa[i] : pb[i];
  });
  return record(op::where, y, {a, b}, [m, sa = detail::dims_of(a.shape()), sb = detail::dims_of(b.shape())](const Tensor& gy) {
    Tensor z = zeros({}, gy.dtype());
    return Grads{sum_to(where(m, gy, z), sa), sum_to(where(m, z, gy), sb)};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }

// Scalar operands: one affine kernel and a one-line backward, no broadcast machinery.
namespace {
Tensor affine(const Op& op, const Tensor& x, double scale, double shift) {
  if (ints(x)) {  // integral scalars keep integers, others make floats (as torch: int tensor * 0.5 is float)
    if (scale == std::floor(scale) && shift == std::floor(shift)) return detail::int_affine(x, int64_t(scale), int64_t(shift));
    return affine(op, x.to(DType::f32), scale, shift);
  }
  Tensor y = detail::unary_kernel(op.name, x, kernels::Unary::affine, scale, shift);
  return record(op, y, {x}, [scale](const Tensor& gy) { return Grads{scale == 1.0 ? gy : gy * scale}; });
}
}  // namespace
Tensor operator+(const Tensor& a, double b) { return affine(op::add, a, 1.0, b); }
Tensor operator-(const Tensor& a, double b) { return affine(op::sub, a, 1.0, -b); }
Tensor operator*(const Tensor& a, double b) { return affine(op::mul, a, b, 0.0); }
Tensor operator/(const Tensor& a, double b) { return ints(a) ? a.to(DType::f32) / b : a / full({}, b, a.dtype()); }
Tensor operator+(double a, const Tensor& b) { return affine(op::add, b, 1.0, a); }
Tensor operator-(double a, const Tensor& b) { return affine(op::sub, b, -1.0, a); }
Tensor operator*(double a, const Tensor& b) { return affine(op::mul, b, a, 0.0); }
Tensor operator/(double a, const Tensor& b) { return ints(b) ? a / b.to(DType::f32) : full({}, a, b.dtype()) / b; }
Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace elbo
