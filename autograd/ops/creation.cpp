// Creation and random tensors. Random tensors are filled in order from the Generator, so a seed fixes them.
#include <cmath>
#include <cstring>
#include <limits>

#include "autograd/ops/common.h"

namespace elbo {

Tensor empty(IntList shape, DType dtype) {
  const int64_t n = numel_of(shape);
  auto p = detail::new_impl();
  p->storage = detail::new_storage(size_t(n) * itemsize(dtype));
  p->shape.assign(shape.begin(), shape.end());
  p->numel = n;
  p->dtype = dtype;
  return Tensor(std::move(p));
}

Tensor empty(const Shape& shape, DType dtype) { return empty(IntList(shape), dtype); }
Tensor empty(std::initializer_list<int64_t> shape, DType dtype) { return empty(IntList(shape), dtype); }

Tensor full(IntList shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  with_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    T* p = t.data<T>();
    std::fill(p, p + t.numel(), T(value));
  });
  return t;
}
Tensor zeros(IntList shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, size_t(t.numel()) * itemsize(dtype));
  return t;
}
Tensor ones(IntList shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, t.dtype()); }
Tensor scalar_tensor(double v, DType dtype) { return full({}, v, dtype); }

Tensor arange(int64_t n, DType dtype) {
  ELBO_CHECK_VALUE(n >= 0, "arange: n must be >= 0, got {}", n);
  Tensor t = empty({n}, dtype);
  with_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    for (int64_t i = 0; i < n; ++i) t.data<T>()[i] = T(i);
  });
  return t;
}

namespace {
// values converted to dtype, one per element of shape
template <class V> Tensor from_values(const std::vector<V>& values, IntList shape, DType dtype) {
  ELBO_CHECK_SHAPE(int64_t(values.size()) == numel_of(shape), "tensor: {} values given for shape {} ({} elements)",
                   values.size(), shape, numel_of(shape));
  Tensor t = empty(shape, dtype);
  with_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    for (size_t i = 0; i < values.size(); ++i) t.data<T>()[i] = T(values[i]);
  });
  return t;
}
}  // namespace

namespace detail {
Tensor tensor_from_ints(const std::vector<int64_t>& values, IntList shape, DType dtype) {
  return from_values(values, shape, dtype);
}
}  // namespace detail

Tensor tensor(const std::vector<double>& values, IntList shape, DType dtype) { return from_values(values, shape, dtype); }

Tensor randn(IntList shape, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  with_float(dtype, "randn", [&](auto z) {
    using T = decltype(z);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = T(gen.normal());
  });
  return t;
}

Tensor rand(IntList shape, Generator& gen, DType dtype) {
  Tensor t = empty(shape, dtype);
  with_float(dtype, "rand", [&](auto z) {
    using T = decltype(z);
    T* p = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      T u = T(gen.uniform());
      p[i] = u < T(1) ? u : std::nextafter(T(1), T(0));  // rounding to f32 must not reach 1
    }
  });
  return t;
}

Tensor bernoulli(const Tensor& probs, Generator& gen) {
  Tensor t = empty(probs.shape(), probs.dtype());
  with_float(probs.dtype(), "bernoulli", [&](auto z) {
    using T = decltype(z);
    const T* p = probs.data<const T>();
    T* o = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      ELBO_CHECK_VALUE(p[i] >= T(0) && p[i] <= T(1), "bernoulli: probability {} at index {} is outside [0, 1] (shape {})",
                       p[i], i, probs.shape());
      o[i] = gen.uniform() < double(p[i]) ? T(1) : T(0);
    }
  });
  return t;
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator& gen) {
  ELBO_CHECK_SHAPE(probs.dim() >= 1 && probs.shape().back() > 0, "multinomial: probs must be [..., K] with K > 0, got {}",
                   probs.shape());
  const int64_t k = probs.shape().back(), rows = probs.numel() / k;
  ELBO_CHECK_VALUE(num_samples > 0 && (replacement || num_samples <= k),
                   "multinomial: cannot draw {} samples from {} classes without replacement (probs {})", num_samples, k,
                   probs.shape());
  Shape s = probs.shape();
  s.back() = num_samples;
  Tensor out = empty(s, DType::i64);
  const std::vector<double> p = probs.to_vector<double>();
  int64_t* o = out.data<int64_t>();
  std::vector<double> w(static_cast<size_t>(k));
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0;
    int64_t positive = 0;
    for (int64_t j = 0; j < k; ++j) {
      w[size_t(j)] = p[size_t(r * k + j)];
      ELBO_CHECK_VALUE(w[size_t(j)] >= 0 && std::isfinite(w[size_t(j)]),
                       "multinomial: weight {} in row {} is negative or not finite (probs {})", w[size_t(j)], r, probs.shape());
      total += w[size_t(j)];
      positive += w[size_t(j)] > 0;
    }
    ELBO_CHECK_VALUE(total > 0, "multinomial: row {} has no positive weight (probs {})", r, probs.shape());
    ELBO_CHECK_VALUE(replacement || positive >= num_samples,
                     "multinomial: row {} has {} positive weights, fewer than {} samples without replacement", r,
                     positive, num_samples);
    for (int64_t i = 0; i < num_samples; ++i) {
      double u = gen.uniform() * total, acc = 0;
      int64_t j = 0, last = 0;
      for (; j < k; ++j) {
        if (w[size_t(j)] > 0) last = j;
        acc += w[size_t(j)];
        if (u < acc && w[size_t(j)] > 0) break;
      }
      if (j == k) j = last;  // rounding at the top end
      o[r * num_samples + i] = j;
      if (!replacement) {
        total -= w[size_t(j)];
        w[size_t(j)] = 0;
      }
    }
  }
  return out;
}

// Gumbel-max: argmax_k (logits_k + G_k), G_k = -log(-log U) ~ Gumbel(0, 1).
Tensor categorical(const Tensor& logits, Generator& gen) {
  ELBO_CHECK_SHAPE(logits.dim() >= 1 && logits.shape().back() > 0, "categorical: logits must be [..., K] with K > 0, got {}",
                   logits.shape());
  const int64_t k = logits.shape().back(), rows = logits.numel() / k;
  Tensor out = empty(IntList(logits.shape().data(), logits.shape().size() - 1), DType::i64);
  const std::vector<double> l = logits.to_vector<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double best = -std::numeric_limits<double>::infinity();
    int64_t arg = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double u = gen.uniform();
      const double v = l[size_t(r * k + j)] - std::log(-std::log(u > 0 ? u : 0x1p-60));
      if (v > best) best = v, arg = j;
    }
    out.data<int64_t>()[r] = arg;
  }
  return out;
}

}  // namespace elbo
