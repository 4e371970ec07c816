// Matrix products on the blocked GEMM. Backward uses the transposed-operand GEMM variants directly:
// d(A B) = dC B^T for A and A^T dC for B, no transpose is materialized. The product with transpose flags
// is itself an op (detail::mm), so the backward is differentiable again with no second formula.
#include "autograd/ops/common.h"
#include "autograd/ops/derivatives.h"

namespace elbo {
using detail::Dims;
using detail::dims_of;
namespace {

// op(a) @ op(b) over the last two dims, unrecorded; a and b have equal batch dims (or are both 2-D).
Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const int64_t ad = a.dim(), bd = b.dim();
  const int64_t m = a.shape()[size_t(ad - (ta ? 1 : 2))], k = a.shape()[size_t(ad - (ta ? 2 : 1))];
  const int64_t n = b.shape()[size_t(bd - (tb ? 2 : 1))];
  const IntList batch_dims(a.shape().data(), a.shape().size() - 2);
  Dims out = dims_of(batch_dims);
  out.push_back(m);
  out.push_back(n);
  Tensor y = empty(out, a.dtype());
  const int64_t batch = numel_of(batch_dims);
  const bool shared_b = bd == 2;
  with_float(a.dtype(), "matmul", [&](auto t) {
    using T = decltype(t);
    const T* pa = a.data<const T>();
    const T* pb = b.data<const T>();
    T* py = y.data<T>();
    const int64_t lda = ta ? m : k, ldb = tb ? k : n;
    kernels::gemm_batched<T>(ta, tb, batch, m, n, k, pa, m * k, lda, pb, shared_b ? 0 : k * n, ldb, py, m * n, n);
  });
  return y;
}

}  // namespace

namespace detail {
Tensor mm(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  ELBO_CHECK_SHAPE(a.dim() == b.dim() && a.dim() >= 2, "mm: operands a{} and b{} must have the same number (>= 2) of "
                   "dims", a.shape(), b.shape());
  Tensor y = product(a, ta, b, tb);
  // C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, each written back through its flag
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op::mm, y, {a, b}, [a, b, ta, tb, ga, gb](const Tensor& gc) {
    return Grads{ga ? (ta ? mm(b, tb, gc, true) : mm(gc, false, b, !tb)) : Tensor(),
                 gb ? (tb ? mm(gc, true, a, ta) : mm(a, !ta, gc, false)) : Tensor()};
  });
}
}  // namespace detail

namespace {
using detail::mm;

IntList batch_of(const Tensor& t) { return {t.shape().data(), t.shape().size() - 2}; }

}  // namespace

Tensor matmul(const Tensor& a0, const Tensor& b0) {
  ELBO_CHECK_SHAPE(a0.dim() >= 1 && b0.dim() >= 1, "matmul: both operands need at least 1 dim, got a{} @ b{}",
                   a0.shape(), b0.shape());
  const DType d = detail::promote("matmul", a0, b0);
  Tensor a = a0.to(d), b = b0.to(d);
  // 1-D operands: as torch, a vector is a row on the left and a column on the right.
  if (a.dim() == 1 || b.dim() == 1) {
    Tensor y = matmul(a.dim() == 1 ? unsqueeze(a, 0) : a, b.dim() == 1 ? unsqueeze(b, 1) : b);
    if (b.dim() == 1) y = squeeze(y, -1);
    if (a.dim() == 1) y = squeeze(y, a.dim() == 1 && b.dim() == 1 ? -1 : -2);
    return y;
  }
  ELBO_CHECK_SHAPE(a.shape().back() == b.shape()[size_t(b.dim() - 2)],
                   "matmul: inner dimensions differ: a{} @ b{} (elementwise is a * b)", a.shape(), b.shape());
  if (b.dim() == 2 && a.dim() > 2) {  // fold a's batch into rows: one GEMM
    Dims out = dims_of(a.shape());
    out.back() = b.shape()[1];
    return reshape(matmul(reshape(a, {-1, a.shape().back()}), b), out);
  }
  if (a.dim() > 2 || b.dim() > 2) {
    Dims batch = detail::broadcast_shapes("matmul", batch_of(a), batch_of(b));
    Dims sa = batch, sb = batch;
    sa.insert(sa.end(), a.shape().end() - 2, a.shape().end());
    sb.insert(sb.end(), b.shape().end() - 2, b.shape().end());
    a = a.shape() == IntList(sa) ? a : expand(a, sa);
    b = b.shape() == IntList(sb) ? b : expand(b, sb);
  }
  Tensor y = product(a, false, b, false);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op::matmul, y, {a, b}, [a, b, ga, gb](const Tensor& gy) {
    return Grads{ga ? mm(gy, false, b, true) : Tensor(), gb ? mm(a, true, gy, false) : Tensor()};
  });
}

Tensor linear(const Tensor& x0, const Tensor& w, const Tensor& b) {
  ELBO_CHECK_SHAPE(w.dim() == 2, "linear: weight must be [out, in], got {}", w.shape());
  ELBO_CHECK_SHAPE(x0.dim() >= 1 && x0.shape().back() == w.shape()[1],
                   "linear: input {} does not end in in_features = {} (weight {})", x0.shape(), w.shape()[1], w.shape());
  if (b.defined())
    ELBO_CHECK_SHAPE(b.dim() == 1 && b.shape()[0] == w.shape()[0], "linear: bias {} does not match weight {}",
                     b.shape(), w.shape());
  ELBO_CHECK(x0.dtype() == w.dtype() && (!b.defined() || b.dtype() == w.dtype()),
             "linear: input is {}, weight {}{}; convert the input with .to()", x0.dtype(), w.dtype(),
             b.defined() ? fmt::format(", bias {}", b.dtype()) : "");
  const Tensor x = x0.dim() == 2 ? x0 : reshape(x0, {-1, w.shape()[1]});
  const int64_t rows = x.shape()[0], in = w.shape()[1], out = w.shape()[0];
  Tensor y = empty({rows, out}, w.dtype());
  with_float(w.dtype(), "linear", [&](auto t) {
    using T = decltype(t);
    // y = x W^T + b, the bias added in the GEMM's epilogue
    kernels::gemm<T>(false, true, rows, out, in, T(1), x.data<const T>(), in, w.data<const T>(), in, T(0), y.data<T>(),
                     out, b.defined() ? b.data<const T>() : nullptr);
  });
  const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.defined() && b.requires_grad();
  Tensor r = record(op::linear, y, {x, w, b}, [x, w, gx, gw, gb](const Tensor& gy) {
    // dx = gy W, dW = gy^T x, db = sum over rows of gy
    return Grads{gx ? mm(gy, false, w, false) : Tensor(), gw ? mm(gy, true, x, false) : Tensor(),
                 gb ? sum(gy, {0}) : Tensor()};
  });
  if (x0.dim() == 2) return r;
  Dims s = dims_of(x0.shape());
  s.back() = out;
  return reshape(r, s);
}

}  // namespace elbo
