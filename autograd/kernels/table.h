#pragma once
// Internal: the function table one instruction set provides. Each arch_*.cpp fills one from simd.hpp
// (arch.inc); dispatch.cpp picks one at start-up and splits large work over the thread pool. Arch
// translation units contain only loops over pointers (no std containers or std::function), so no inline
// function compiled with AVX-512 flags can leak into code that runs on a CPU without it.
//
// The table is generated from three lists, so each kernel's signature is written once:
//   ELBO_FORWARDED_KERNELS (kernels.h): public kernels whose table entry has the public signature;
//     kernels.h declares them, dispatch.cpp forwards to the active table, ref.h / ref.cpp declare and
//     instantiate their scalar twins.
//   ELBO_TABLE_KERNELS (below): the pointer-level kernels behind a public wrapper of another signature
//     (spans, threads: unary, binary, sum, adam, ...) and the GEMM's and convolutions' building blocks.
//   ELBO_TABLE_CONSTANTS (below): each instruction set's tile sizes.
// Adding a kernel is one entry in one list, its body in simd.hpp (or gemm.hpp / conv.hpp) and, for a
// public one, its scalar twin in ref.cpp.
#include <cstdint>

#include "kernels.h"

// X(name, return type, (parameters), (the SIMD body that fills it)): T is the element type, A the xsimd
// architecture.
#define ELBO_DIRECT_PARAMS(T)                                                                                 \
  (int64_t k, const int64_t* off, const T* x, int64_t vs, const T* wp, const T* bias, T* y, int64_t yrow,   \
   int64_t ych, int64_t rows, int64_t chans, int64_t lanes)
#define ELBO_TABLE_KERNELS(X, T)                                                                              \
  X(unary, void, (Unary op, const T* x, T* y, int64_t n, T p0, T p1), (simd::unary<A, T>))                   \
  /* na, nb: 1 (broadcast scalar) or n */                                                                    \
  X(binary, void, (Binary op, const T* a, int64_t na, const T* b, int64_t nb, T* y, int64_t n),              \
    (simd::binary<A, T>))                                                                                    \
  X(sum, T, (const T* x, int64_t n), (simd::sum<A, T>))                                                      \
  X(count_outside, int64_t, (const T* x, int64_t n, T lo, T hi), (simd::count_outside<A, T>))                \
  X(add_into, void, (const T* x, T* y, int64_t n), (simd::add_into<A, T>)) /* y += x */                      \
  /* Adam with precomputed scalars: step_size = lr / bc1, inv_bc2_sqrt = 1 / sqrt(bc2), decay as kernels.h */ \
  X(adam, void,                                                                                              \
    (T* p, const T* g, T* m, T* v, T* vmax, int64_t n, T beta1, T beta2, T step_size, T inv_bc2_sqrt, T eps, \
     T weight_decay, T decoupled_scale),                                                                     \
    (simd::adam<A, T>))                                                                                      \
  /* GEMM micro-kernel: c[MR x NR] (row stride ldc) = alpha * sum_k pa[k*MR + i] * pb[k*NR + j] (+ beta c)  \
     (+ bias[j] when bias is not null); packed panels as produced by gemm.cpp */                             \
  X(gemm_micro, void,                                                                                        \
    (int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr, int64_t nr,         \
     const T* bias),                                                                                         \
    (simd::gemm_micro<A, T>))                                                                                \
  /* c = op(A) @ op(B) for m, n, k <= kGemmSmall, read in place (no packing); each element's sum runs the  \
     k steps in gemm_micro's order, so the result is gemm's to the bit (gemm.hpp) */                         \
  X(gemm_small, void,                                                                                        \
    (bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,     \
     T* c, int64_t ldc),                                                                                     \
    (simd::gemm_small<A, T>))                                                                                \
  /* an mc x kc block of op(A) as MR-row panels, panel ip at dst + ip*kc (zero-padded) (gemm.hpp) */         \
  X(gemm_pack_a, void, (bool ta, const T* a, int64_t lda, int64_t mc, int64_t kc, T* dst),                   \
    (simd::pack_a<A, T, simd::kGemmMR<A>>))                                                                  \
  /* a kc x nc block of op(B) as NR-column panels, panel jp at dst + jp*kc (zero-padded) (gemm.hpp) */       \
  X(gemm_pack_b, void, (bool tb, const T* b, int64_t ldb, int64_t kc, int64_t nc, T* dst),                   \
    (simd::pack_b<A, T>))                                                                                    \
  /* the convolutions' tiles: conv_mr rows (and gemm_nr columns), A packed as gemm_pack_a packs */           \
  X(conv_pack_a, void, (bool ta, const T* a, int64_t lda, int64_t mc, int64_t kc, T* dst),                   \
    (simd::pack_a<A, T, simd::kConvMR>))                                                                     \
  /* a conv_mr x NR tile as gemm_micro's, A in conv_pack_a's panels, row p of B read from bp[p] */           \
  X(gemm_micro_rows, void,                                                                                   \
    (int64_t k, const T* pa, const T* const* bp, T* c, int64_t ldc, T alpha, T beta, int64_t mr, int64_t nr,  \
     const T* bias),                                                                                         \
    (simd::gemm_micro_rows<A, T>))                                                                           \
  /* indirect convolution micro-kernel (gemm.hpp): an MR x NR tile of C from rows of A read by pointer */    \
  X(conv_micro, void,                                                                                        \
    (int64_t taps, int64_t kc, const T* const* a, int64_t cs, const T* pb, T* c, int64_t ldc, bool accumulate), \
    (simd::conv_micro<A, T>))                                                                                \
  /* direct convolution micro-kernels for few channels (conv.hpp): tiles of direct_rt rows by direct_ot    \
     channels, mid_rt by mid_ot, tall_rt by one */                                                          \
  X(direct_micro, void, ELBO_DIRECT_PARAMS(T), (simd::direct_micro<A, T, simd::kDirectRT<A>, simd::kDirectOT<A>>)) \
  X(mid_micro, void, ELBO_DIRECT_PARAMS(T), (simd::direct_micro<A, T, simd::kMidRT<A>, simd::kMidOT<A>>))       \
  X(tall_micro, void, ELBO_DIRECT_PARAMS(T), (simd::direct_micro<A, T, simd::kTallRT<A>, 1>))                   \
  /* d[j*ldd + i] = s[i*lds + j] for i < rows, j < cols (conv.hpp) */                                        \
  X(transpose, void, (const T* s, int64_t lds, T* d, int64_t ldd, int64_t rows, int64_t cols),               \
    (simd::transpose<A, T>))                                                                                 \
  X(dot_micro, void,                                                                                         \
    (int64_t rows, const T* g, int64_t gch, int64_t grow, const int64_t* off, const T* x, int64_t xrow,       \
     int64_t lanes, T* acc),                                                                                 \
    (simd::dot_micro<A, T>))

// C(name, value): the tile shapes the kernels above were compiled for; lanes = SIMD width.
#define ELBO_TABLE_CONSTANTS(C, T)                                                                            \
  C(gemm_mr, simd::kGemmMR<A>) C(gemm_nr, int(2 * xsimd::batch<T, A>::size)) C(conv_mr, simd::kConvMR)       \
  C(lanes, int(xsimd::batch<T, A>::size)) C(direct_rt, simd::kDirectRT<A>) C(direct_ot, simd::kDirectOT<A>) \
  C(mid_rt, simd::kMidRT<A>) C(mid_ot, simd::kMidOT<A>) C(tall_rt, simd::kTallRT<A>) C(dot_ot, simd::kDotOT<A>)

namespace elbo::kernels {

template <class T> struct Table {
#define ELBO_TABLE_FIELD(name, ret, params, ...) ret(*name) params;
#define ELBO_TABLE_CONSTANT(name, value) int name;
  ELBO_TABLE_CONSTANTS(ELBO_TABLE_CONSTANT, T)
  ELBO_TABLE_KERNELS(ELBO_TABLE_FIELD, T)
  ELBO_FORWARDED_KERNELS(ELBO_TABLE_FIELD, T)
#undef ELBO_TABLE_FIELD
#undef ELBO_TABLE_CONSTANT
  using DirectFn = decltype(direct_micro);
};

struct Tables {
  const char* name;
  Table<float> f32;
  Table<double> f64;
  template <class T> const Table<T>& get() const {
    if constexpr (sizeof(T) == 4) return f32; else return f64;
  }
};

const Tables& tables_sse2();
const Tables& tables_avx2();
const Tables& tables_avx512();

}  // namespace elbo::kernels
