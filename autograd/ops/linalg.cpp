// Linear algebra on the last two dims, batched: diagonals, triangles, Cholesky and triangular solves.
// The matrices here are small (a latent dimension squared), so the kernels are plain loops in the
// operand's precision; every backward is written in the catalog's own ops, so it is differentiable
// again (create_graph).
#include <cmath>

#include "autograd/ops/common.h"

namespace elbo {
using detail::Dims;
using detail::dims_of;
namespace {

void need_matrix(const char* op, const Tensor& x, bool square) {
  ELBO_CHECK(x.defined() && is_floating(x.dtype()), "{}: needs a floating tensor, got {}", op,
             x.defined() ? fmt::format("{} {}", x.dtype(), x.shape()) : "undefined");
  ELBO_CHECK_SHAPE(x.dim() >= 2 && (!square || x.size(-1) == x.size(-2)),
                   "{}: needs {} [..., n, n] matrices, got shape {}", op, square ? "square" : "", x.shape());
}

int64_t batch_of(const Tensor& x) { return x.dim() == 2 ? 1 : x.numel() / std::max<int64_t>(1, x.size(-1) * x.size(-2)); }

// Keeps the elements with (column - row) in [lo, hi], zeros the rest.
Tensor band(const char* op, const Tensor& x, int64_t lo, int64_t hi) {
  need_matrix(op, x, false);
  const int64_t rows = x.size(-2), cols = x.size(-1), batch = batch_of(x);
  Tensor y = empty(x.shape(), x.dtype());
  with_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    const T* px = x.data<const T>();
    T* py = y.data<T>();
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t e = (b * rows + i) * cols + j;
          py[e] = j - i >= lo && j - i <= hi ? px[e] : T(0);
        }
  });
  return y;
}
constexpr int64_t kAll = int64_t(1) << 62;
}  // namespace

Tensor tril(const Tensor& x, int64_t k) {
  Tensor y = band("tril", x, -kAll, k);
  return record(op::tril, y, {x}, [k](const Tensor& gy) { return Grads{tril(gy, k)}; });
}

Tensor triu(const Tensor& x, int64_t k) {
  Tensor y = band("triu", x, k, kAll);
  return record(op::triu, y, {x}, [k](const Tensor& gy) { return Grads{triu(gy, k)}; });
}

Tensor diagonal(const Tensor& x) {
  need_matrix("diagonal", x, false);
  const int64_t rows = x.size(-2), cols = x.size(-1), n = std::min(rows, cols), batch = batch_of(x);
  Dims s = dims_of(x.shape());
  s.pop_back();
  s.back() = n;
  Tensor y = empty(s, x.dtype());
  with_float(x.dtype(), "diagonal", [&](auto t) {
    using T = decltype(t);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < n; ++i) y.data<T>()[b * n + i] = x.data<const T>()[(b * rows + i) * cols + i];
  });
  const bool square = rows == cols;
  return record(op::diagonal, y, {x}, [square, rows, cols](const Tensor& gy) {
    Tensor g = diag_embed(gy);
    if (!square) {  // pad the n x n block to rows x cols
      Dims r = dims_of(g.shape()), c;
      if (rows > cols) r[r.size() - 2] = rows - cols, g = cat({g, zeros(r, gy.dtype())}, -2);
      else r.back() = cols - rows, g = cat({g, zeros(r, gy.dtype())}, -1);
    }
    return Grads{g};
  });
}

Tensor diag_embed(const Tensor& v) {
  ELBO_CHECK(v.defined() && is_floating(v.dtype()) && v.dim() >= 1, "diag_embed: needs a floating tensor [..., n], got {}",
             v.defined() ? fmt::format("{} {}", v.dtype(), v.shape()) : "undefined");
  const int64_t n = v.size(-1), batch = v.numel() / std::max<int64_t>(1, n);
  Dims s = dims_of(v.shape());
  s.push_back(n);
  Tensor y = zeros(s, v.dtype());
  with_float(v.dtype(), "diag_embed", [&](auto t) {
    using T = decltype(t);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < n; ++i) y.data<T>()[(b * n + i) * n + i] = v.data<const T>()[b * n + i];
  });
  return record(op::diag_embed, y, {v}, [](const Tensor& gy) { return Grads{diagonal(gy)}; });
}

// A = L L^T, column by column (Cholesky-Banachiewicz): L_jj = sqrt(a_jj - sum_k<j L_jk^2),
// L_ij = (a_ij - sum_k<j L_ik L_jk) / L_jj. Reads the lower triangle of a only.
// Backward (Murray 2016, "Differentiation of the Cholesky decomposition", eq. 10): with
// Phi(M) = the lower triangle of M with its diagonal halved, dA = L^-T Phi(L^T dL) L^-1, symmetrized.
Tensor cholesky(const Tensor& a) {
  need_matrix("cholesky", a, true);
  const int64_t n = a.size(-1), batch = batch_of(a);
  Tensor l = zeros(a.shape(), a.dtype());
  with_float(a.dtype(), "cholesky", [&](auto t) {
    using T = decltype(t);
    for (int64_t b = 0; b < batch; ++b) {
      const T* pa = a.data<const T>() + b * n * n;
      T* pl = l.data<T>() + b * n * n;
      for (int64_t j = 0; j < n; ++j) {
        T d = pa[j * n + j];
        for (int64_t k = 0; k < j; ++k) d -= pl[j * n + k] * pl[j * n + k];
        ELBO_CHECK_VALUE(d > T(0), "cholesky: matrix {} of the batch (shape {}) is not positive definite: its leading "
                         "minor of order {} is not positive (pivot {})", b, a.shape(), j + 1, double(d));
        const T ljj = std::sqrt(d);
        pl[j * n + j] = ljj;
        for (int64_t i = j + 1; i < n; ++i) {
          T s = pa[i * n + j];
          for (int64_t k = 0; k < j; ++k) s -= pl[i * n + k] * pl[j * n + k];
          pl[i * n + j] = s / ljj;
        }
      }
    }
  });
  return record(op::cholesky, l, {a}, [l](const Tensor& gl) {
    const Tensor L = detail::linked(l);
    const Tensor Lt = transpose(L, -1, -2);
    const Tensor m = matmul(Lt, gl);
    const Tensor phi = tril(m) - 0.5 * diag_embed(diagonal(m));
    const Tensor y = solve_triangular(Lt, phi, /*upper=*/true);                                   // L^-T Phi
    const Tensor s = transpose(solve_triangular(Lt, transpose(y, -1, -2), /*upper=*/true), -1, -2);  // (L^-T Phi) L^-1
    return Grads{0.5 * (s + transpose(s, -1, -2))};
  });
}

// X = A^-1 B by substitution, column by column of B (forward for lower A, backward for upper).
// Backward: dB = A^-T dX (a solve with the transposed triangle), dA = -dB X^T on A's triangle.
Tensor solve_triangular(const Tensor& a0, const Tensor& b0, bool upper) {
  need_matrix("solve_triangular", a0, true);
  need_matrix("solve_triangular", b0, false);
  ELBO_CHECK_SHAPE(a0.size(-1) == b0.size(-2), "solve_triangular: A {} and B {} do not fit (A X = B needs B [..., {}, k])",
                   a0.shape(), b0.shape(), a0.size(-1));
  const DType d = detail::promote("solve_triangular", a0, b0);
  Tensor a = a0.to(d), b = b0.to(d);
  const int64_t n = a.size(-1), k = b.size(-1);
  if (a.dim() > 2 || b.dim() > 2) {  // broadcast the batch dims, as matmul does
    const Dims batch = detail::broadcast_shapes("solve_triangular", IntList(a.shape().data(), a.shape().size() - 2),
                                                IntList(b.shape().data(), b.shape().size() - 2));
    Dims sa = batch, sb = batch;
    sa.push_back(n), sa.push_back(n), sb.push_back(n), sb.push_back(k);
    if (a.shape() != IntList(sa)) a = expand(a, sa);
    if (b.shape() != IntList(sb)) b = expand(b, sb);
  }
  const int64_t batch = batch_of(a);
  Tensor x = empty(b.shape(), d);
  with_float(d, "solve_triangular", [&](auto t) {
    using T = decltype(t);
    for (int64_t bi = 0; bi < batch; ++bi) {
      const T* pa = a.data<const T>() + bi * n * n;
      const T* pb = b.data<const T>() + bi * n * k;
      T* px = x.data<T>() + bi * n * k;
      for (int64_t c = 0; c < k; ++c)
        for (int64_t s = 0; s < n; ++s) {
          const int64_t i = upper ? n - 1 - s : s;
          T v = pb[i * k + c];
          if (upper)
            for (int64_t j = i + 1; j < n; ++j) v -= pa[i * n + j] * px[j * k + c];
          else
            for (int64_t j = 0; j < i; ++j) v -= pa[i * n + j] * px[j * k + c];
          px[i * k + c] = v / pa[i * n + i];
        }
    }
  });
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return record(op::solve_triangular, x, {a, b}, [a, x, upper, ga, gb](const Tensor& gx) {
    const Tensor X = detail::linked(x);
    const Tensor g_b = solve_triangular(transpose(a, -1, -2), gx, !upper);
    Tensor g_a;
    if (ga) {
      const Tensor full = -matmul(g_b, transpose(X, -1, -2));
      g_a = upper ? triu(full) : tril(full);
    }
    return Grads{g_a, gb ? g_b : Tensor()};
  });
}

}  // namespace elbo
