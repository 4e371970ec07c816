#pragma once
// Internal: the function table one instruction set provides. Each arch_*.cpp fills one from simd.hpp;
// dispatch.cpp picks one at start-up and splits large work over the thread pool. Arch translation units
// contain only loops over pointers (no std containers or std::function), so no inline function compiled
// with AVX-512 flags can leak into code that runs on a CPU without it.
#include <cstdint>

#include "kernels.h"

namespace elbo::kernels {

template <class T> struct Table {
  void (*unary)(Unary op, const T* x, T* y, int64_t n, T p0, T p1);
  // na, nb: 1 (broadcast scalar) or n
  void (*binary)(Binary op, const T* a, int64_t na, const T* b, int64_t nb, T* y, int64_t n);
  T (*sum)(const T* x, int64_t n);
  int64_t (*count_outside)(const T* x, int64_t n, T lo, T hi);
  void (*add_into)(const T* x, T* y, int64_t n);  // y += x
  // Adam with precomputed scalars: step_size = lr / bc1, inv_bc2_sqrt = 1 / sqrt(bc2), decay as in kernels.h
  void (*adam)(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, T beta1, T beta2, T step_size, T inv_bc2_sqrt, T eps,
               T weight_decay, T decoupled_scale);
  // GEMM micro-kernel: c[MR x NR] (row stride ldc) = alpha * sum_k pa[k*MR + i] * pb[k*NR + j]
  // (+ beta * c) (+ bias[j] when bias is not null); packed panels as produced by gemm.cpp.
  int gemm_mr, gemm_nr;
  void (*gemm_micro)(int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                     int64_t nr, const T* bias);
  // An mc x kc block of op(A) as MR-row panels, panel ip at dst + ip*kc (zero-padded) (gemm.hpp).
  void (*gemm_pack_a)(bool ta, const T* a, int64_t lda, int64_t mc, int64_t kc, T* dst);
  // A kc x nc block of op(B) as NR-column panels, panel jp at dst + jp*kc (zero-padded) (gemm.hpp).
  void (*gemm_pack_b)(bool tb, const T* b, int64_t ldb, int64_t kc, int64_t nc, T* dst);
  // The convolutions' tiles: conv_mr rows (and gemm_nr columns), A packed by conv_pack_a as gemm_pack_a.
  int conv_mr;
  void (*conv_pack_a)(bool ta, const T* a, int64_t lda, int64_t mc, int64_t kc, T* dst);
  // A conv_mr x NR tile as gemm_micro's, with A in conv_pack_a's panels and row p of B read from bp[p]
  // (NR contiguous values) instead of a packed panel.
  void (*gemm_micro_rows)(int64_t k, const T* pa, const T* const* bp, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                          int64_t nr, const T* bias);
  // Indirect convolution micro-kernel (gemm.hpp): an MR x NR tile of C from rows of A read through pointers.
  void (*conv_micro)(int64_t taps, int64_t kc, const T* const* a, int64_t cs, const T* pb, T* c, int64_t ldc,
                     bool accumulate);
  // Direct convolution micro-kernels for few channels (conv.hpp); lanes = SIMD width. direct_micro's tile
  // is direct_rt rows by direct_ot channels, mid_micro's mid_rt by mid_ot, tall_micro's tall_rt by one.
  int lanes, direct_rt, direct_ot, mid_rt, mid_ot, tall_rt, dot_ot;
  using DirectFn = void (*)(int64_t k, const int64_t* off, const T* x, int64_t vs, const T* wp, const T* bias, T* y,
                            int64_t yrow, int64_t ych, int64_t rows, int64_t chans, int64_t lanes);
  DirectFn direct_micro, mid_micro, tall_micro;
  // d[j*ldd + i] = s[i*lds + j] for i < rows, j < cols (conv.hpp).
  void (*transpose)(const T* s, int64_t lds, T* d, int64_t ldd, int64_t rows, int64_t cols);
  void (*dot_micro)(int64_t rows, const T* g, int64_t gch, int64_t grow, const int64_t* off, const T* x,
                    int64_t xrow, int64_t lanes, T* acc);
  // Recurrent cells, one row (kernels.h).
  void (*gru_cell)(int64_t h, const T* x, T* s, const T* hprev, T* hnew);
  void (*gru_cell_grad)(int64_t h, const T* s, const T* hprev, T* dh, T* dx, T* dhp);
  void (*lstm_cell)(int64_t h, const T* x, T* s, const T* cprev, T* cnew, T* hnew);
  void (*lstm_cell_grad)(int64_t h, const T* s, const T* dh, T* dc, T* dg);
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
