#pragma once
// The GEMM micro-kernel, templated on the architecture: an MR x NR tile of C held in registers
// (MR = 6 rows, NR = two SIMD batches), updated with one broadcast of A and two loads of B per k step.
// Packing and blocking live in gemm.cpp (baseline flags); this file is included only by arch_*.cpp.
#include <xsimd/xsimd.hpp>

namespace elbo::kernels::simd {

constexpr int kGemmMR = 6;

template <class Arch, class T>
void gemm_micro(int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                int64_t nr) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, MR = kGemmMR, NR = 2 * W;
  B c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = B(T(0));
  for (int64_t p = 0; p < k; ++p) {
    const B b0 = B::load_aligned(pb + p * NR), b1 = B::load_aligned(pb + p * NR + W);
    const T* ap = pa + p * MR;
    for (int i = 0; i < MR; ++i) {
      const B a(ap[i]);
      c0[i] = xsimd::fma(a, b0, c0[i]);
      c1[i] = xsimd::fma(a, b1, c1[i]);
    }
  }
  const B va(alpha), vb(beta);
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i) {
      T* ci = c + i * ldc;
      if (beta == T(0)) {
        (va * c0[i]).store_unaligned(ci);
        (va * c1[i]).store_unaligned(ci + W);
      } else {
        xsimd::fma(vb, B::load_unaligned(ci), va * c0[i]).store_unaligned(ci);
        xsimd::fma(vb, B::load_unaligned(ci + W), va * c1[i]).store_unaligned(ci + W);
      }
    }
    return;
  }
  alignas(64) T tile[MR * NR];
  for (int i = 0; i < MR; ++i) {
    (va * c0[i]).store_aligned(tile + i * NR);
    (va * c1[i]).store_aligned(tile + i * NR + W);
  }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j)
      c[i * ldc + j] = beta == T(0) ? tile[i * NR + j] : beta * c[i * ldc + j] + tile[i * NR + j];
}

}  // namespace elbo::kernels::simd
