// Picks the instruction set at start-up and fronts the SIMD kernels; splits large elementwise work and
// reductions over the thread pool in fixed blocks, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>

#include <xsimd/xsimd.hpp>

#include "../error.h"
#include "scratch.h"
#include "table.h"
#include "thread_pool.h"

namespace elbo::kernels {
namespace {

const Tables* pick(std::string_view name) {
  const auto cpu = xsimd::available_architectures();
  // arch_avx512.cpp is compiled with -mavx512f/cd/dq/bw/vl, so it needs all five (xsimd's cpuid checks the
  // OS's zmm state and F, CD, DQ, BW; GCC's builtin reads VL)
  if (name == "avx512")
    return cpu.avx512f && cpu.avx512cd && cpu.avx512dq && cpu.avx512bw && __builtin_cpu_supports("avx512vl")
               ? &tables_avx512()
               : nullptr;
  if (name == "avx2") return (cpu.avx2 && cpu.fma3_avx2) ? &tables_avx2() : nullptr;
  if (name == "sse2" || name == "portable") return &tables_sse2();
  return nullptr;
}

const Tables* best() {
  if (const char* env = std::getenv("ELBO_ARCH")) {  // a forced path that cannot run is an error, never a fallback
    const std::string_view want(env);
    ELBO_CHECK_VALUE(want == "portable" || want == "sse2" || want == "avx2" || want == "avx512",
                     "ELBO_ARCH={}: not one of portable, sse2, avx2, avx512", want);
    const Tables* t = pick(want);
    ELBO_CHECK(t != nullptr, "ELBO_ARCH={}: this CPU does not have {} (it has: {})", want, want,
               pick("avx512") ? "avx512, avx2, sse2" : pick("avx2") ? "avx2, sse2" : "sse2");
    return t;
  }
  for (const char* n : {"avx512", "avx2"})
    if (const Tables* t = pick(n)) return t;
  return &tables_sse2();
}

const Tables*& active() {
  static const Tables* t = best();
  return t;
}

constexpr int64_t kBlock = 1 << 14;  // elements per parallel block (elementwise and sums)

}  // namespace

const Tables& current() { return *active(); }
std::string_view arch_name() { return active()->name; }
bool set_arch(std::string_view name) {
  const Tables* t = pick(name);
  if (t) active() = t;
  return t != nullptr;
}

template <class T> void unary(Unary op, std::span<const T> x, std::span<T> y, T p0, T p1) {
  const auto f = active()->get<T>().unary;
  const int64_t n = int64_t(y.size());
  if (n < 4 * kBlock) return f(op, x.data(), y.data(), n, p0, p1);
  parallel_for((n + kBlock - 1) / kBlock, 1, [&](int64_t b, int64_t e) {
    const int64_t lo = b * kBlock, hi = std::min(n, e * kBlock);
    f(op, x.data() + lo, y.data() + lo, hi - lo, p0, p1);
  });
}

template <class T> void binary(Binary op, std::span<const T> a, std::span<const T> b, std::span<T> y) {
  const auto f = active()->get<T>().binary;
  const int64_t n = int64_t(y.size()), na = int64_t(a.size()), nb = int64_t(b.size());
  if (n < 4 * kBlock) return f(op, a.data(), na, b.data(), nb, y.data(), n);
  parallel_for((n + kBlock - 1) / kBlock, 1, [&](int64_t bb, int64_t e) {
    const int64_t lo = bb * kBlock, hi = std::min(n, e * kBlock);
    f(op, na == 1 ? a.data() : a.data() + lo, na == 1 ? 1 : hi - lo, nb == 1 ? b.data() : b.data() + lo,
      nb == 1 ? 1 : hi - lo, y.data() + lo, hi - lo);
  });
}

// Block sums first (in parallel), then the block sums in order: the same answer for any thread count.
template <class T> T sum(std::span<const T> x) {
  const auto f = active()->get<T>().sum;
  const int64_t n = int64_t(x.size());
  if (n <= kBlock) return f(x.data(), n);
  const int64_t nb = (n + kBlock - 1) / kBlock;
  T partial_stack[64];
  T* partial = nb > 64 ? scratch<T>(Scratch::sum_partials, size_t(nb)) : partial_stack;
  parallel_for(nb, 4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) partial[i] = f(x.data() + i * kBlock, std::min(kBlock, n - i * kBlock));
  });
  return f(partial, nb);
}

// In blocks of kBlock, so each block's lane counts stay exact in T; one thread (a validation pass is short).
template <class T> int64_t count_outside(std::span<const T> x, T lo, T hi) {
  const auto f = active()->get<T>().count_outside;
  const int64_t n = int64_t(x.size());
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i += kBlock) bad += f(x.data() + i, std::min(kBlock, n - i), lo, hi);
  return bad;
}

namespace {
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, cols)); }  // ~16K elements
}  // namespace

template <class T> void bce_logits_rows(std::span<const T> x, std::span<const T> t, std::span<T> y, int64_t cols) {
  constexpr int64_t kChunk = 1024;
  const int64_t rows = int64_t(y.size());
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    alignas(64) T buf[kChunk];
    for (int64_t r = r0; r < r1; ++r) {
      T acc = 0;
      for (int64_t c0 = 0; c0 < cols; c0 += kChunk) {
        const size_t len = size_t(std::min(kChunk, cols - c0));
        binary<T>(Binary::bce_logits, x.subspan(size_t(r * cols + c0), len), t.subspan(size_t(r * cols + c0), len),
                  {buf, len});
        acc += sum<T>({buf, len});
      }
      y[size_t(r)] = acc;
    }
  });
}

template <class T>
void bce_logits_rows_grad(std::span<const T> x, std::span<const T> t, std::span<const T> gy, std::span<T> gx,
                          int64_t cols) {
  const int64_t rows = int64_t(gy.size());
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const std::span<T> row = gx.subspan(size_t(r * cols), size_t(cols));
      const size_t at = size_t(r * cols), n = size_t(cols);
      binary<T>(Binary::sigmoid_sub, x.subspan(at, n), t.subspan(at, n), row);
      binary<T>(Binary::mul, std::span<const T>(row), gy.subspan(size_t(r), 1), row);
    }
  });
}

template <class T> void reduce_sum(const T* x, T* y, int64_t outer, int64_t r, int64_t inner) {
  const auto& t = active()->get<T>();
  if (inner == 1) {
    parallel_for(outer, std::max<int64_t>(1, kBlock / std::max<int64_t>(r, 1)), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) y[o] = t.sum(x + o * r, r);
    });
    return;
  }
  parallel_for(outer, std::max<int64_t>(1, kBlock / std::max<int64_t>(r * inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      T* yo = y + o * inner;
      const T* xo = x + o * r * inner;
      std::fill(yo, yo + inner, T(0));
      for (int64_t k = 0; k < r; ++k) t.add_into(xo + k * inner, yo, inner);
    }
  });
}

template <class T>
void reduce_max(const T* x, T* y, int64_t* idx, int64_t outer, int64_t r, int64_t inner, bool take_min) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xo = x + o * r * inner + i;
      T best = xo[0];
      int64_t arg = 0;
      for (int64_t k = 1; k < r; ++k) {
        const T v = xo[k * inner];
        // NaN propagates, as in torch.max
        if (best != best) break;
        if (v != v || (take_min ? v < best : v > best)) best = v, arg = k;
      }
      y[o * inner + i] = best;
      idx[o * inner + i] = arg;
    }
}

template <class T> void adam(const AdamParams& a, T* p, const T* g, T* m, T* v, T* vmax, int64_t n) {
  const auto f = active()->get<T>().adam;
  const double bc1 = 1 - std::pow(a.beta1, double(a.step)), bc2 = 1 - std::pow(a.beta2, double(a.step));
  const T step_size = T(a.lr / bc1), inv = T(1 / std::sqrt(bc2));
  const T wd = a.decoupled ? T(0) : T(a.weight_decay), scale = a.decoupled ? T(1 - a.lr * a.weight_decay) : T(1);
  parallel_for((n + kBlock - 1) / kBlock, 4, [&](int64_t b, int64_t e) {
    const int64_t lo = b * kBlock, hi = std::min(n, e * kBlock);
    f(p + lo, g + lo, m + lo, v + lo, vmax ? vmax + lo : nullptr, hi - lo, T(a.beta1), T(a.beta2), step_size, inv,
      T(a.eps), wd, scale);
  });
}

// The forwarded kernels (kernels.h's list): the active table's entry, called as it is.
#define ELBO_FORWARD_KERNEL(name, ret, params, args) \
  template <class T> ret name params { return active()->get<T>().name args; }
ELBO_FORWARDED_KERNELS(ELBO_FORWARD_KERNEL, T)
#undef ELBO_FORWARD_KERNEL

#define ELBO_INSTANTIATE(T)                                                                        \
  template void unary<T>(Unary, std::span<const T>, std::span<T>, T, T);                          \
  template void binary<T>(Binary, std::span<const T>, std::span<const T>, std::span<T>);          \
  template T sum<T>(std::span<const T>);                                                          \
  template void bce_logits_rows<T>(std::span<const T>, std::span<const T>, std::span<T>, int64_t);  \
  template void bce_logits_rows_grad<T>(std::span<const T>, std::span<const T>, std::span<const T>, std::span<T>, \
                                        int64_t);                                                 \
  template int64_t count_outside<T>(std::span<const T>, T, T);                                    \
  template void reduce_sum<T>(const T*, T*, int64_t, int64_t, int64_t);                            \
  template void reduce_max<T>(const T*, T*, int64_t*, int64_t, int64_t, int64_t, bool);                   \
  template void adam<T>(const AdamParams&, T*, const T*, T*, T*, T*, int64_t);                     \
  ELBO_FORWARDED_KERNELS(ELBO_INSTANTIATE_KERNEL, T)
ELBO_INSTANTIATE(float)
ELBO_INSTANTIATE(double)
#undef ELBO_INSTANTIATE

}  // namespace elbo::kernels
