// Indexing and splitting, as torch. Most are compositions of narrow, index_select, expand and where, so
// their gradients come for free; index_add and scatter_add are primitives (their backward is the
// index_select / gather of the gradient).
#include <algorithm>
#include <cstring>

#include "autograd/ops/common.h"
#include "autograd/ops/derivatives.h"

namespace elbo {

using detail::Dims;
using detail::dims_of;
using detail::wrap_dim;

namespace {
void need_dims(const char* op, const Tensor& x) {
  ELBO_CHECK_SHAPE(x.defined() && x.dim() > 0, "{}: the tensor is zero-dimensional (shape {}), there is no dim", op,
                   x.defined() ? x.shape() : Shape{});
}
// The i64 indices [0, n) in reverse, or each repeated `times`.
Tensor index_list(int64_t n, bool reverse, int64_t times) {
  Tensor idx = empty({n * times}, DType::i64);
  int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < times; ++k) p[i * times + k] = reverse ? n - 1 - i : i;
  return idx;
}
}  // namespace

Tensor select(const Tensor& x, int64_t dim0, int64_t index) {
  need_dims("select", x);
  const int64_t dim = wrap_dim("select", dim0, x.dim());
  const int64_t n = x.size(dim);
  ELBO_CHECK_SHAPE(index >= -n && index < n, "select: index {} is out of range for dim {} of size {} (shape {})",
                   index, dim, n, x.shape());
  return squeeze(narrow(x, dim, index < 0 ? index + n : index, 1), dim);
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim0) {
  need_dims("split", x);
  const int64_t dim = wrap_dim("split", dim0, x.dim());
  ELBO_CHECK_VALUE(size > 0, "split: split_size must be positive, got {} (shape {})", size, x.shape());
  std::vector<Tensor> parts;
  const int64_t n = x.size(dim);
  for (int64_t start = 0; start < n; start += size) parts.push_back(narrow(x, dim, start, std::min(size, n - start)));
  if (parts.empty()) parts.push_back(x);  // as torch: a dim of size 0 gives one empty part
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim0) {
  need_dims("chunk", x);
  ELBO_CHECK_VALUE(chunks > 0, "chunk: chunks must be positive, got {}", chunks);
  const int64_t dim = wrap_dim("chunk", dim0, x.dim()), n = x.size(dim);
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);  // torch's ceil(n / chunks)
}

std::vector<Tensor> unbind(const Tensor& x, int64_t dim0) {
  need_dims("unbind", x);
  const int64_t dim = wrap_dim("unbind", dim0, x.dim());
  std::vector<Tensor> parts;
  for (int64_t i = 0; i < x.size(dim); ++i) parts.push_back(select(x, dim, i));
  return parts;
}

Tensor flip(const Tensor& x, IntList dims) {
  Tensor y = x;
  for (const int64_t d0 : dims) {
    need_dims("flip", x);
    const int64_t d = wrap_dim("flip", d0, x.dim());
    y = index_select(y, d, index_list(x.size(d), true, 1));
  }
  return y;
}

// torch.Tensor.repeat: x [a, b] repeated (2, 3) is [2a, 3b], the whole tensor tiled; extra leading
// repeats add dims. As x viewed [1, a, 1, b], expanded to [2, a, 3, b] and reshaped.
Tensor repeat(const Tensor& x, IntList repeats) {
  ELBO_CHECK_SHAPE(repeats.size() >= size_t(x.dim()),
                   "repeat: {} repeats for a tensor of {} dims (shape {}); give at least one per dim", repeats.size(),
                   x.dim(), x.shape());
  const size_t lead = repeats.size() - size_t(x.dim());
  Dims view, big, out;
  for (size_t i = 0; i < repeats.size(); ++i) {
    const int64_t r = repeats[i], s = i < lead ? 1 : x.shape()[i - lead];
    ELBO_CHECK_VALUE(r >= 0, "repeat: repeats must be >= 0, got {} at position {}", r, i);
    view.push_back(1), view.push_back(s);
    big.push_back(r), big.push_back(s);
    out.push_back(r * s);
  }
  return reshape(expand(reshape(x, view), big), out);
}

Tensor repeat_interleave(const Tensor& x, int64_t repeats, int64_t dim0) {
  need_dims("repeat_interleave", x);
  ELBO_CHECK_VALUE(repeats >= 0, "repeat_interleave: repeats must be >= 0, got {}", repeats);
  const int64_t dim = wrap_dim("repeat_interleave", dim0, x.dim());
  return index_select(x, dim, index_list(x.size(dim), false, repeats));
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  ELBO_CHECK(mask.defined(), "masked_fill: the mask is undefined");
  ELBO_CHECK_SHAPE(detail::broadcast_shapes("masked_fill", x.shape(), mask.shape()) == IntList(x.shape()),
                   "masked_fill: mask {} must broadcast to the input {}", mask.shape(), x.shape());
  return where(mask.detach(), full({}, value, x.dtype()), x);
}

namespace {
// The shared forward of index_add and scatter_add: y = x + (source added at the positions dst[e]).
Tensor add_at(const char* op, const Tensor& x, const Tensor& source, std::span<const int64_t> dst) {
  Tensor y = x.detach().clone();
  with_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    const T* ps = source.data<const T>();
    T* py = y.data<T>();
    for (size_t e = 0; e < dst.size(); ++e) py[dst[e]] += ps[e];
  });
  return y;
}
void check_same_dtype(const char* op, const Tensor& x, const Tensor& source) {
  ELBO_CHECK(x.dtype() == source.dtype() && is_floating(x.dtype()),
             "{}: the input ({} {}) and source ({} {}) must share one floating dtype", op, x.dtype(), x.shape(),
             source.dtype(), source.shape());
}
}  // namespace

// y = x; y[..., index[i], ...] += source[..., i, ...] along dim (repeated indices accumulate).
Tensor index_add(const Tensor& x, int64_t dim0, const Tensor& index, const Tensor& source) {
  check_same_dtype("index_add", x, source);
  need_dims("index_add", x);
  ELBO_CHECK(index.dtype() == DType::i64 && index.dim() == 1, "index_add: index must be a 1-D i64 tensor, got {} {}",
             index.dtype(), index.shape());
  const int64_t dim = wrap_dim("index_add", dim0, x.dim());
  bool fits = source.dim() == x.dim();
  for (int64_t d = 0; fits && d < x.dim(); ++d) fits = source.size(d) == (d == dim ? index.numel() : x.size(d));
  ELBO_CHECK_SHAPE(fits, "index_add: source {} must be the input {} with dim {} of size {} (the index's length)",
                   source.shape(), x.shape(), dim, index.numel());
  const auto [outer, r, inner] = detail::split_at(x.shape(), dim);
  const int64_t n = index.numel();
  const int64_t* pi = index.data<const int64_t>();
  const Tensor dst_t = empty({source.numel()}, DType::i64);  // storage cache, not the heap
  int64_t* dst = dst_t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    ELBO_CHECK_VALUE(pi[i] >= -r && pi[i] < r, "index_add: index {} is out of range for dim {} of size {} (input {})",
                     pi[i], dim, r, x.shape());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < inner; ++k)
        dst[(o * n + i) * inner + k] = (o * r + (pi[i] < 0 ? pi[i] + r : pi[i])) * inner + k;
  const Tensor y = add_at("index_add", x, source, std::span<const int64_t>(dst, size_t(source.numel())));
  return record(op::index_add, y, {x, source}, [index, dim](const Tensor& gy) {
    return Grads{gy, index_select(gy, dim, index)};  // d/dx = identity; d/dsource picks the rows it went to
  });
}

// y = x; y[i][index[i][j][k]][k] += src[i][j][k] for dim 1 (and likewise for any dim), as torch.scatter_add.
Tensor scatter_add(const Tensor& x, int64_t dim0, const Tensor& index, const Tensor& source) {
  check_same_dtype("scatter_add", x, source);
  need_dims("scatter_add", x);
  ELBO_CHECK(index.dtype() == DType::i64, "scatter_add: index must be an i64 tensor, got {} {}", index.dtype(),
             index.shape());
  const int64_t dim = wrap_dim("scatter_add", dim0, x.dim());
  bool fits = index.dim() == x.dim() && source.dim() == x.dim();
  for (int64_t d = 0; fits && d < x.dim(); ++d)
    fits = index.size(d) <= source.size(d) && (d == dim || index.size(d) <= x.size(d));
  ELBO_CHECK_SHAPE(fits, "scatter_add: index {} must fit the source {} and, outside dim {}, the input {}",
                   index.shape(), source.shape(), dim, x.shape());
  // the positions of x each index element adds to, and the source elements it reads
  const Shape& is = index.shape();
  const Tensor dst_t = empty({index.numel()}, DType::i64), src_t = empty({index.numel()}, DType::i64);
  int64_t* dst = dst_t.data<int64_t>();
  int64_t* src = src_t.data<int64_t>();
  Dims xstr(size_t(x.dim()), 1), sstr(size_t(x.dim()), 1), idx(is.size(), 0);
  for (int64_t d = x.dim() - 2; d >= 0; --d) {
    xstr[size_t(d)] = xstr[size_t(d + 1)] * x.size(d + 1);
    sstr[size_t(d)] = sstr[size_t(d + 1)] * source.size(d + 1);
  }
  const int64_t* pi = index.data<const int64_t>();
  const int64_t r = x.size(dim);
  for (int64_t e = 0; e < index.numel(); ++e) {
    const int64_t v = pi[e];
    ELBO_CHECK_VALUE(v >= -r && v < r, "scatter_add: index {} is out of range for dim {} of size {} (input {})", v,
                     dim, r, x.shape());
    int64_t od = 0, os = 0;
    for (size_t d = 0; d < is.size(); ++d) {
      od += (int64_t(d) == dim ? (v < 0 ? v + r : v) : idx[d]) * xstr[d];
      os += idx[d] * sstr[d];
    }
    dst[e] = od, src[e] = os;
    for (int64_t d = int64_t(is.size()) - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < is[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  Tensor picked = empty(index.shape(), source.dtype());  // the source elements the index covers, in its order
  with_float(source.dtype(), "scatter_add", [&](auto t) {
    using T = decltype(t);
    for (int64_t e = 0; e < index.numel(); ++e) picked.data<T>()[e] = source.data<const T>()[src[e]];
  });
  const Tensor y = add_at("scatter_add", x, picked, std::span<const int64_t>(dst, size_t(index.numel())));
  return record(op::scatter_add, y, {x, source}, [dst_t, src_t, is = dims_of(index.shape()),
                                                  ss = dims_of(source.shape())](const Tensor& gy) {
    // d/dsource[src[e]] = gy[dst[e]]; elements of source the index does not cover get 0
    return Grads{gy, detail::put_add(detail::take(gy, dst_t, is), src_t, ss)};
  });
}

}  // namespace elbo
