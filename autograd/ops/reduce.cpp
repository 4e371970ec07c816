// Reductions: sum/mean over dims, max/min over a dim, and the stable logsumexp; softmax and log_softmax
// are composed from logsumexp and get their gradients for free.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "autograd/ops/common.h"
#include "autograd/ops/derivatives.h"

namespace elbo {
namespace detail {

Split3 split_at(IntList s, int64_t dim) {
  Split3 r{1, s.empty() ? 1 : s[size_t(dim)], 1};
  for (int64_t i = 0; i < dim; ++i) r.outer *= s[size_t(i)];
  for (size_t i = size_t(dim) + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}

Dims reduced_shape(IntList s, IntList dims, bool keepdim) {
  Dims r;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool red = std::find(dims.begin(), dims.end(), int64_t(i)) != dims.end();
    if (!red) r.push_back(s[i]);
    else if (keepdim) r.push_back(1);
  }
  return r;
}

}  // namespace detail

using detail::Dims;
using detail::dims_of;
using detail::split_at;

namespace {
Dims wrap_dims(const char* op, IntList dims, int64_t ndim, IntList shape) {
  Dims d;
  for (int64_t x : dims) d.push_back(detail::wrap_dim(op, x, ndim));
  std::sort(d.begin(), d.end());
  ELBO_CHECK_SHAPE(std::adjacent_find(d.begin(), d.end()) == d.end(), "{}: dims {} repeat a dim (shape {})", op,
                   dims, shape);
  return d;
}

// Sums x over the sorted dims, keeping them as size 1; consecutive dims are reduced in one pass.
Tensor sum_keep(const Tensor& x, IntList dims) {
  Tensor cur = x;
  Dims shape = dims_of(x.shape());
  for (size_t g = dims.size(); g > 0;) {
    size_t first = g - 1;  // extend the group of consecutive dims downward
    while (first > 0 && dims[first - 1] == dims[first] - 1) --first;
    const int64_t lo = dims[first], hi = dims[g - 1];
    int64_t outer = 1, r = 1, inner = 1;
    for (int64_t i = 0; i < int64_t(shape.size()); ++i)
      (i < lo ? outer : i <= hi ? r : inner) *= shape[size_t(i)];
    for (int64_t i = lo; i <= hi; ++i) shape[size_t(i)] = 1;
    Tensor next = empty(shape, x.dtype());
    with_float(x.dtype(), "sum", [&](auto t) {
      using T = decltype(t);
      if (r == 0) std::fill(next.data<T>(), next.data<T>() + next.numel(), T(0));
      else kernels::reduce_sum<T>(cur.data<const T>(), next.data<T>(), outer, r, inner);
    });
    cur = next;
    g = first;
  }
  return cur;
}
}  // namespace

namespace {
// i64 reductions in f64 (exact while the values and sums stay below 2^53), back to i64.
Tensor int_via_f64(const Tensor& x, const std::function<Tensor(const Tensor&)>& f) { return f(x.to(DType::f64)).to(DType::i64); }
void no_int_mean(const Tensor& x) {
  ELBO_CHECK(x.dtype() != DType::i64, "mean: an i64 tensor {} has no integer mean (as torch); take "
             "sum(x) / n, or mean(x.to(DType::f32))", x.shape());
}
}  // namespace

Tensor sum(const Tensor& x) {
  if (x.dtype() == DType::i64) {  // exact in int64
    Tensor y = zeros({}, DType::i64);
    for (int64_t i = 0; i < x.numel(); ++i) y.data<int64_t>()[0] += x.data<const int64_t>()[i];
    return y;
  }
  Tensor y = empty({}, x.dtype());
  with_float(x.dtype(), "sum", [&](auto t) {
    using T = decltype(t);
    y.data<T>()[0] = kernels::sum<T>(detail::in<T>(x));
  });
  return record(op::sum, y, {x}, [s = dims_of(x.shape())](const Tensor& gy) { return Grads{expand(gy, s)}; });
}

Tensor sum(const Tensor& x, IntList dims0, bool keepdim) {
  if (x.dtype() == DType::i64)
    return int_via_f64(x, [&](const Tensor& f) { return sum(f, dims0, keepdim); });
  const Dims dims = wrap_dims("sum", dims0, x.dim(), x.shape());
  Tensor kept = sum_keep(x, dims);
  Tensor y = keepdim ? kept : reshape(kept.detach(), detail::reduced_shape(x.shape(), dims, false));
  return record(op::sum, y, {x}, [s = dims_of(x.shape()), keep_shape = dims_of(kept.shape())](const Tensor& gy) {
    return Grads{expand(reshape(gy, keep_shape), s)};  // d sum / dx_i = 1
  });
}

Tensor mean(const Tensor& x) {
  no_int_mean(x);
  return sum(x) * (1.0 / double(x.numel()));
}

Tensor mean(const Tensor& x, IntList dims, bool keepdim) {
  no_int_mean(x);
  Tensor s = sum(x, dims, keepdim);
  const double n = double(x.numel()) / double(std::max<int64_t>(s.numel(), 1));
  return s * (1.0 / n);
}

namespace {
// Values and first indices of the max (or min) along dim, as [outer, inner] buffers.
std::pair<Tensor, Tensor> extreme(const char* op, const Tensor& x, int64_t dim, bool take_min) {
  if (x.dtype() == DType::i64) {
    auto [v, idx] = extreme(op, x.to(DType::f64), dim, take_min);
    return {v.to(DType::i64), idx};
  }
  dim = detail::wrap_dim(op, dim, x.dim());
  const auto [outer, r, inner] = split_at(x.shape(), dim);
  ELBO_CHECK_SHAPE(r > 0, "{}: cannot reduce over dim {} of size 0 (shape {})", op, dim, x.shape());
  const Dims ks = detail::reduced_shape(x.shape(), {dim}, true);
  Tensor v = empty(ks, x.dtype()), idx = empty(ks, DType::i64);
  with_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    kernels::reduce_max<T>(x.data<const T>(), v.data<T>(), idx.data<int64_t>(), outer, r, inner, take_min);
  });
  return {v, idx};
}

Tensor max_min(const Op& op, const Tensor& x, int64_t dim0, bool keepdim, bool take_min) {
  auto [v, idx] = extreme(op.name, x, dim0, take_min);
  const int64_t dim = detail::wrap_dim(op.name, dim0, x.dim());
  Tensor y = keepdim ? v : reshape(v, detail::reduced_shape(x.shape(), {dim}, false));
  return record(op, y, {x}, [idx, dim, s = dims_of(x.shape())](const Tensor& gy) {
    // the gradient flows to the selected element only: put at its flat position
    const auto [outer, r, inner] = split_at(s, dim);
    const Tensor pos = empty(idx.shape(), DType::i64);
    const int64_t* ix = idx.data<const int64_t>();
    int64_t* p = pos.data<int64_t>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) p[o * inner + i] = (o * r + ix[o * inner + i]) * inner + i;
    return Grads{detail::put_add(gy, pos, s)};
  });
}
}  // namespace

Tensor max(const Tensor& x, int64_t dim, bool keepdim) { return max_min(op::max, x, dim, keepdim, false); }
Tensor min(const Tensor& x, int64_t dim, bool keepdim) { return max_min(op::min, x, dim, keepdim, true); }

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  Tensor idx = extreme("argmax", x, dim, false).second;
  return keepdim ? idx : reshape(idx, detail::reduced_shape(x.shape(), {detail::wrap_dim("argmax", dim, x.dim())}, false));
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  Tensor idx = extreme("argmin", x, dim, true).second;
  return keepdim ? idx : reshape(idx, detail::reduced_shape(x.shape(), {detail::wrap_dim("argmin", dim, x.dim())}, false));
}

// logsumexp(x) = m + log(sum(exp(x - m))) with m the max (0 where the max is infinite), so nothing
// overflows; d/dx = exp(x - logsumexp(x)) = softmax(x).
Tensor logsumexp(const Tensor& x, int64_t dim0, bool keepdim) {
  const int64_t dim = detail::wrap_dim("logsumexp", dim0, x.dim());
  Tensor lse;
  {
    NoGradGuard ng;
    Tensor xd = x.detach();
    Tensor m = extreme("logsumexp", xd, dim, false).first;
    with_float(x.dtype(), "logsumexp", [&](auto t) {
      using T = decltype(t);
      T* pm = m.data<T>();
      for (int64_t i = 0; i < m.numel(); ++i)
        if (!std::isfinite(pm[i])) pm[i] = T(0);
    });
    lse = m + log(sum(exp(xd - m), {dim}, true));
  }
  Tensor y = keepdim ? lse : reshape(lse, detail::reduced_shape(x.shape(), {dim}, false));
  return record(op::logsumexp, y, {x}, [x, y, ks = dims_of(lse.shape())](const Tensor& gy) {
    return Grads{reshape(gy, ks) * exp(x - reshape(detail::linked(y), ks))};  // softmax(x) gy
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) { return x - logsumexp(x, dim, true); }
Tensor softmax(const Tensor& x, int64_t dim) { return exp(log_softmax(x, dim)); }

Tensor sum_to(const Tensor& x, IntList shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - int64_t(shape.size());
  ELBO_CHECK_SHAPE(lead >= 0, "sum_to: cannot sum shape {} to the larger shape {}", x.shape(), shape);
  Dims dims;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[size_t(i - lead)] == 1 && x.shape()[size_t(i)] != 1) dims.push_back(i);
    else ELBO_CHECK_SHAPE(shape[size_t(i - lead)] == x.shape()[size_t(i)], "sum_to: shape {} does not broadcast to {}", shape, x.shape());
  }
  return reshape(sum(x, dims, true), shape);
}

int64_t count_outside(const Tensor& x, double lo, double hi) {
  return with_float(x.dtype(), "count_outside", [&](auto t) {
    using T = decltype(t);
    return kernels::count_outside<T>(x.span<const T>(), T(lo), T(hi));
  });
}

}  // namespace elbo
