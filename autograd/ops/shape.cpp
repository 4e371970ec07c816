// Shape ops. Storage is always contiguous: reshape shares it, the others copy. Each backward is the
// adjoint copy (transpose back, scatter into zeros, split the gradient).
#include <algorithm>
#include <cstring>
#include <numeric>

#include "autograd/ops/common.h"
#include "autograd/ops/derivatives.h"

namespace elbo {

using detail::Dims;
using detail::dims_of;
using detail::wrap_dim;

Tensor reshape(const Tensor& x, IntList shape0) {
  Dims shape = dims_of(shape0);
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ELBO_CHECK_SHAPE(infer < 0, "reshape: only one dim may be -1 (asked {} for shape {})", shape0, x.shape());
      infer = int64_t(i);
    } else {
      ELBO_CHECK_SHAPE(shape[i] >= 0, "reshape: invalid size {} in {}", shape[i], shape0);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ELBO_CHECK_SHAPE(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 in {} for shape {} ({} elements)",
                     shape0, x.shape(), x.numel());
    shape[size_t(infer)] = x.numel() / known;
    known *= shape[size_t(infer)];
  }
  ELBO_CHECK_SHAPE(known == x.numel(), "reshape: shape {} ({} elements) does not fit a tensor of shape {} ({} elements)",
                   shape0, known, x.shape(), x.numel());
  if (IntList(shape) == x.shape()) return x;
  auto p = detail::new_impl();
  p->storage = x.impl()->storage;
  p->shape.assign(shape.begin(), shape.end());
  p->numel = x.numel();
  p->dtype = x.dtype();
  return record(op::reshape, Tensor(std::move(p)), {x}, [s = dims_of(x.shape())](const Tensor& gy) {
    return Grads{reshape(gy, s)};
  });
}

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  if (x.dim() == 0) return reshape(x, {1});
  start = wrap_dim("flatten", start, x.dim());
  end = wrap_dim("flatten", end, x.dim());
  ELBO_CHECK_SHAPE(start <= end, "flatten: start_dim {} is after end_dim {} (shape {})", start, end, x.shape());
  Dims s(x.shape().begin(), x.shape().begin() + start);
  int64_t n = 1;
  for (int64_t i = start; i <= end; ++i) n *= x.shape()[size_t(i)];
  s.push_back(n);
  s.insert(s.end(), x.shape().begin() + end + 1, x.shape().end());
  return reshape(x, s);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim("unsqueeze", dim, x.dim() + 1);
  Dims s = dims_of(x.shape());
  s.insert(s.begin() + dim, 1);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim("squeeze", dim, x.dim());
  if (x.dim() == 0) return x;  // as torch: a scalar has nothing to squeeze
  if (x.shape()[size_t(dim)] != 1) return x;
  Dims s = dims_of(x.shape());
  s.erase(s.begin() + dim);
  return reshape(x, s);
}

Tensor expand(const Tensor& x, IntList shape) {
  ELBO_CHECK_SHAPE(IntList(detail::broadcast_shapes("expand", x.shape(), shape)) == shape,
                   "expand: shape {} cannot be expanded to {}", x.shape(), shape);
  Tensor y = detail::broadcast_copy(x, shape);
  return record(op::expand, y, {x}, [s = dims_of(x.shape())](const Tensor& gy) { return Grads{sum_to(gy, s)}; });
}

Tensor permute(const Tensor& x, IntList dims0) {
  const int64_t nd = x.dim();
  ELBO_CHECK_SHAPE(int64_t(dims0.size()) == nd, "permute: {} dims given for a tensor of shape {}", dims0.size(), x.shape());
  Dims dims(dims0.size());
  for (size_t i = 0; i < dims.size(); ++i) dims[i] = wrap_dim("permute", dims0[i], nd);
  Dims check = dims;
  std::sort(check.begin(), check.end());
  for (int64_t i = 0; i < nd; ++i)
    ELBO_CHECK_SHAPE(check[size_t(i)] == i, "permute: {} is not a permutation of the dims of shape {}", dims0, x.shape());
  Dims out(static_cast<size_t>(nd)), in_strides(static_cast<size_t>(nd), 1);
  for (int64_t i = nd - 2; i >= 0; --i) in_strides[size_t(i)] = in_strides[size_t(i + 1)] * x.shape()[size_t(i + 1)];
  for (size_t i = 0; i < size_t(nd); ++i) out[i] = x.shape()[size_t(dims[i])];
  Tensor y = empty(out, x.dtype());
  if (y.numel() > 0) {
    with_dtype(x.dtype(), [&](auto t) {
      using T = decltype(t);
      const T* px = x.data<const T>();
      T* py = y.data<T>();
      Dims idx(static_cast<size_t>(nd), 0);
      Dims st(static_cast<size_t>(nd));  // input stride of each output dim
      for (size_t i = 0; i < size_t(nd); ++i) st[i] = in_strides[size_t(dims[i])];
      const int64_t last = nd == 0 ? 1 : out.back(), ls = nd == 0 ? 0 : st.back();
      int64_t off = 0;
      for (int64_t o = 0; o < y.numel(); o += last) {
        for (int64_t j = 0; j < last; ++j) py[o + j] = px[off + j * ls];
        for (int64_t d = nd - 2; d >= 0; --d) {
          const size_t k = size_t(d);
          off += st[k];
          if (++idx[k] < out[k]) break;
          off -= st[k] * out[k];
          idx[k] = 0;
        }
      }
    });
  }
  Dims inverse(static_cast<size_t>(nd));
  for (size_t i = 0; i < size_t(nd); ++i) inverse[size_t(dims[i])] = int64_t(i);
  return record(op::permute, y, {x}, [inverse](const Tensor& gy) { return Grads{permute(gy, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  d0 = wrap_dim("transpose", d0, x.dim());
  d1 = wrap_dim("transpose", d1, x.dim());
  if (x.dim() == 0) return x;  // as torch: transpose(0, 0) of a scalar is the scalar
  Dims dims(static_cast<size_t>(x.dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(d0)], dims[size_t(d1)]);
  return permute(x, dims);
}

namespace {
std::vector<Shape> shapes_of(std::span<const Tensor> xs) {
  std::vector<Shape> s;
  for (const Tensor& x : xs) s.push_back(x.shape());
  return s;
}
}  // namespace

Tensor cat(std::span<const Tensor> xs, int64_t dim0) {
  ELBO_CHECK(!xs.empty(), "cat: no tensors given");
  const Tensor& first = xs[0];
  ELBO_CHECK_SHAPE(first.dim() > 0, "cat: tensor 0 is zero-dimensional (shape {}); cat joins along a dim", first.shape());
  const int64_t dim = wrap_dim("cat", dim0, first.dim());
  Dims out = dims_of(first.shape()), sizes;
  out[size_t(dim)] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    ELBO_CHECK(t.dtype() == first.dtype(), "cat: tensor {} is {}, tensor 0 is {}", i, t.dtype(), first.dtype());
    bool ok = t.dim() == first.dim();
    for (int64_t d = 0; ok && d < t.dim(); ++d) ok = d == dim || t.shape()[size_t(d)] == first.shape()[size_t(d)];
    ELBO_CHECK_SHAPE(ok, "cat: shapes {} differ outside dim {}", shapes_of(xs), dim);
    sizes.push_back(t.shape()[size_t(dim)]);
    out[size_t(dim)] += sizes.back();
  }
  Tensor y = empty(out, first.dtype());
  const auto [outer, r, inner] = detail::split_at(out, dim);
  const size_t es = itemsize(first.dtype());
  int64_t at = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const int64_t rt = sizes[i];
    const char* src = static_cast<const char*>(xs[i].raw());
    char* dst = static_cast<char*>(y.raw());
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(dst + size_t((o * r + at) * inner) * es, src + size_t(o * rt * inner) * es, size_t(rt * inner) * es);
    at += rt;
  }
  if (!detail::should_record(op::cat.name, y, xs)) return y;
  return detail::attach(op::cat, y, xs, [sizes = std::move(sizes), dim](const Tensor& gy) {
    Grads g;
    int64_t start = 0;
    for (int64_t n : sizes) {
      g.push_back(narrow(gy, dim, start, n));
      start += n;
    }
    return g;
  });
}
Tensor cat(const std::vector<Tensor>& xs, int64_t dim) { return cat(std::span<const Tensor>(xs), dim); }
Tensor cat(std::initializer_list<Tensor> xs, int64_t dim) {
  return cat(std::span<const Tensor>(xs.begin(), xs.size()), dim);
}

Tensor stack(std::span<const Tensor> xs, int64_t dim) {
  ELBO_CHECK(!xs.empty(), "stack: no tensors given");
  dim = wrap_dim("stack", dim, xs[0].dim() + 1);
  detail::PooledVector<Tensor> u;
  for (const Tensor& t : xs) {
    ELBO_CHECK_SHAPE(t.shape() == xs[0].shape(), "stack: shapes differ: {} vs {}", t.shape(), xs[0].shape());
    u.push_back(unsqueeze(t, dim));
  }
  return cat(std::span<const Tensor>(u), dim);
}
Tensor stack(const std::vector<Tensor>& xs, int64_t dim) { return stack(std::span<const Tensor>(xs), dim); }
Tensor stack(std::initializer_list<Tensor> xs, int64_t dim) {
  return stack(std::span<const Tensor>(xs.begin(), xs.size()), dim);
}

Tensor narrow(const Tensor& x, int64_t dim0, int64_t start, int64_t length) {
  ELBO_CHECK_SHAPE(x.dim() > 0, "narrow: the tensor is zero-dimensional (shape {}), there is no dim to narrow",
                   x.shape());
  const int64_t dim = wrap_dim("narrow", dim0, x.dim());
  const int64_t n = x.shape()[size_t(dim)];
  if (start < 0) start += n;
  ELBO_CHECK_SHAPE(start >= 0 && length >= 0 && start + length <= n,
                   "narrow: [{}, {}) is outside dim {} of size {} (shape {})", start, start + length, dim, n, x.shape());
  Dims out = dims_of(x.shape());
  out[size_t(dim)] = length;
  Tensor y = empty(out, x.dtype());
  const auto [outer, r, inner] = detail::split_at(x.shape(), dim);
  const size_t es = itemsize(x.dtype());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(y.raw()) + size_t(o * length * inner) * es,
                static_cast<const char*>(x.raw()) + size_t((o * r + start) * inner) * es, size_t(length * inner) * es);
  return record(op::narrow, y, {x}, [s = dims_of(x.shape()), dim, start](const Tensor& gy) {
    return Grads{detail::narrow_backward(gy, s, dim, start)};  // the gradient placed into zeros
  });
}

namespace {
void check_index(const char* op, const Tensor& index) {
  ELBO_CHECK(index.dtype() == DType::i64, "{}: index must be an i64 tensor, got {} {}", op, index.dtype(), index.shape());
}
}  // namespace

// out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1 (as torch.gather)
Tensor gather(const Tensor& x, int64_t dim0, const Tensor& index) {
  check_index("gather", index);
  const int64_t dim = wrap_dim("gather", dim0, x.dim());
  ELBO_CHECK_SHAPE(index.dim() == x.dim(), "gather: index {} and input {} must have the same number of dims",
                   index.shape(), x.shape());
  for (int64_t d = 0; d < x.dim(); ++d)
    ELBO_CHECK_SHAPE(d == dim || index.shape()[size_t(d)] <= x.shape()[size_t(d)],
                     "gather: index {} is larger than input {} outside dim {}", index.shape(), x.shape(), dim);
  Tensor y = empty(index.shape(), x.dtype());
  const auto [outer, r, inner] = detail::split_at(index.shape(), dim);
  const auto xs = detail::split_at(x.shape(), dim);
  // index shape may be smaller than x outside dim: walk index coordinates
  const Shape& is = index.shape();
  const int64_t* pi = index.data<const int64_t>();
  const Tensor src_t = empty({index.numel()}, DType::i64);  // storage cache, not the heap
  int64_t* src = src_t.data<int64_t>();
  Dims xstr(static_cast<size_t>(x.dim()), 1);
  for (int64_t d = x.dim() - 2; d >= 0; --d) xstr[size_t(d)] = xstr[size_t(d + 1)] * x.shape()[size_t(d + 1)];
  Dims idx(is.size(), 0);
  for (int64_t e = 0; e < index.numel(); ++e) {
    const int64_t v = pi[e];
    ELBO_CHECK_VALUE(v >= -xs.r && v < xs.r, "gather: index {} is out of range for dim {} of size {} (input {})", v,
                     dim, xs.r, x.shape());
    int64_t off = 0;
    for (size_t d = 0; d < is.size(); ++d) off += (int64_t(d) == dim ? (v < 0 ? v + xs.r : v) : idx[d]) * xstr[d];
    src[e] = off;
    for (int64_t d = int64_t(is.size()) - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < is[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  (void)outer, (void)r, (void)inner;
  with_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* px = x.data<const T>();
    T* py = y.data<T>();
    for (int64_t e = 0; e < src_t.numel(); ++e) py[e] = px[src[e]];
  });
  return record(op::gather, y, {x}, [src_t, s = dims_of(x.shape())](const Tensor& gy) {
    return Grads{detail::put_add(gy, src_t, s)};  // scatter-add: repeated indices accumulate
  });
}

Tensor index_select(const Tensor& x, int64_t dim0, const Tensor& index) {
  check_index("index_select", index);
  ELBO_CHECK_SHAPE(index.dim() == 1, "index_select: index must be 1-D, got shape {}", index.shape());
  ELBO_CHECK_SHAPE(x.dim() > 0, "index_select: the input is zero-dimensional (shape {}), there is no dim to index",
                   x.shape());
  const int64_t dim = wrap_dim("index_select", dim0, x.dim());
  const auto [outer, r, inner] = detail::split_at(x.shape(), dim);
  const int64_t n = index.numel();
  const int64_t* pi = index.data<const int64_t>();
  const Tensor rows_t = empty({n}, DType::i64);  // from the storage cache: a long index list never reaches the heap
  int64_t* rows = rows_t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    ELBO_CHECK_VALUE(pi[i] >= -r && pi[i] < r, "index_select: index {} is out of range for dim {} of size {} (input {})",
                     pi[i], dim, r, x.shape());
    rows[i] = pi[i] < 0 ? pi[i] + r : pi[i];
  }
  Dims out = dims_of(x.shape());
  out[size_t(dim)] = n;
  Tensor y = empty(out, x.dtype());
  const size_t es = itemsize(x.dtype());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      std::memcpy(static_cast<char*>(y.raw()) + size_t((o * n + i) * inner) * es,
                  static_cast<const char*>(x.raw()) + size_t((o * r + rows[i]) * inner) * es, size_t(inner) * es);
  return record(op::index_select, y, {x}, [rows_t, s = dims_of(x.shape()), dim](const Tensor& gy) {
    return Grads{detail::index_select_backward(gy, rows_t, s, dim)};  // the rows added back where they came from
  });
}

Tensor one_hot(const Tensor& index, int64_t k, DType dtype) {
  check_index("one_hot", index);
  ELBO_CHECK_VALUE(k > 0, "one_hot: num_classes must be positive, got {}", k);
  Dims s = dims_of(index.shape());
  s.push_back(k);
  Tensor y = zeros(s, dtype);
  const int64_t* pi = index.data<const int64_t>();
  with_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    T* py = y.data<T>();
    for (int64_t i = 0; i < index.numel(); ++i) {
      ELBO_CHECK_VALUE(pi[i] >= 0 && pi[i] < k, "one_hot: class {} is out of range [0, {}) (index shape {})", pi[i], k,
                       index.shape());
      py[i * k + pi[i]] = T(1);
    }
  });
  return y;
}

namespace detail {
Tensor narrow_backward(const Tensor& gy, IntList shape, int64_t dim, int64_t start) {
  const int64_t length = gy.size(dim);
  Tensor g = zeros(shape, gy.dtype());
  const auto [outer, r, inner] = split_at(shape, dim);
  const size_t es = itemsize(gy.dtype());
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(g.raw()) + size_t((o * r + start) * inner) * es,
                static_cast<const char*>(gy.raw()) + size_t(o * length * inner) * es, size_t(length * inner) * es);
  return record(op::narrow_backward, g, {gy}, [dim, start, length](const Tensor& gg) {
    return Grads{narrow(gg, dim, start, length)};
  });
}

Tensor index_select_backward(const Tensor& gy, const Tensor& rows_t, IntList shape, int64_t dim) {
  Tensor g = zeros(shape, gy.dtype());
  const auto [outer, r, inner] = split_at(shape, dim);
  const int64_t n = rows_t.numel();
  const int64_t* rows = rows_t.data<const int64_t>();
  with_float(gy.dtype(), "index_select_backward", [&](auto t) {
    using T = decltype(t);
    const T* pg = gy.data<const T>();
    T* px = g.data<T>();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < inner; ++k) px[(o * r + rows[i]) * inner + k] += pg[(o * n + i) * inner + k];
  });
  return record(op::index_select_backward, g, {gy}, [rows_t, dim](const Tensor& gg) {
    return Grads{index_select(gg, dim, rows_t)};
  });
}

Tensor take(const Tensor& x, const Tensor& pos, IntList shape) {
  Tensor y = empty(shape, x.dtype());
  ELBO_ASSERT(y.numel() == pos.numel());
  with_float(x.dtype(), "take", [&](auto t) {
    using T = decltype(t);
    const T* px = x.data<const T>();
    T* py = y.data<T>();
    const int64_t* p = pos.data<const int64_t>();
    for (int64_t e = 0; e < pos.numel(); ++e) py[e] = px[p[e]];
  });
  return record(op::take, y, {x}, [pos, s = dims_of(x.shape())](const Tensor& gy) {
    return Grads{put_add(gy, pos, s)};
  });
}

Tensor put_add(const Tensor& src, const Tensor& pos, IntList shape) {
  ELBO_ASSERT(src.numel() == pos.numel());
  Tensor y = zeros(shape, src.dtype());
  with_float(src.dtype(), "put_add", [&](auto t) {
    using T = decltype(t);
    const T* ps = src.data<const T>();
    T* py = y.data<T>();
    const int64_t* p = pos.data<const int64_t>();
    for (int64_t e = 0; e < pos.numel(); ++e) py[p[e]] += ps[e];
  });
  return record(op::put_add, y, {src}, [pos, s = dims_of(src.shape())](const Tensor& gy) {
    return Grads{take(gy, pos, s)};
  });
}
}  // namespace detail

}  // namespace elbo
