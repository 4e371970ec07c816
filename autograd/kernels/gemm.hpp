#pragma once
// The GEMM micro-kernels, templated on the architecture: an MR x NR tile of C held in registers
// (MR = 6 rows, NR = two SIMD batches), updated with one broadcast of A and two loads of B per k step.
// gemm_micro reads A from a packed panel; conv_micro reads each row of A through its own pointer (the
// indirect convolution of Dukhan 2019, "The Indirect Convolution Algorithm"), so a convolution needs no
// im2col buffer. Packing and blocking live in gemm.cpp and conv.cpp (baseline flags); this file is
// included only by arch_*.cpp.
#include <xsimd/xsimd.hpp>

namespace elbo::kernels::simd {

constexpr int kGemmMR = 6;  // conv_micro names its six row pointers

// Writes the register tile to C: c = alpha * acc (+ beta * c) (+ bias[j]), only mr x nr of it. bias (one
// value per column, may be null) is readable for the tile's nr columns.
template <class Arch, class T, class B>
void store_tile(B* c0, B* c1, T* c, int64_t ldc, T alpha, T beta, int64_t mr, int64_t nr, const T* bias) {
  constexpr int64_t W = B::size, MR = kGemmMR, NR = 2 * W;
  const B va(alpha), vb(beta);
  for (int i = 0; i < MR; ++i) {
    c0[i] = va * c0[i];
    c1[i] = va * c1[i];
  }
  if (bias) {
    alignas(64) T bt[NR] = {};
    for (int64_t j = 0; j < nr; ++j) bt[j] = bias[j];
    const B b0 = B::load_aligned(bt), b1 = B::load_aligned(bt + W);
    for (int i = 0; i < MR; ++i) {
      c0[i] = c0[i] + b0;
      c1[i] = c1[i] + b1;
    }
  }
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i) {
      T* ci = c + i * ldc;
      if (beta == T(0)) {
        c0[i].store_unaligned(ci);
        c1[i].store_unaligned(ci + W);
      } else {
        xsimd::fma(vb, B::load_unaligned(ci), c0[i]).store_unaligned(ci);
        xsimd::fma(vb, B::load_unaligned(ci + W), c1[i]).store_unaligned(ci + W);
      }
    }
    return;
  }
  alignas(64) T tile[MR * NR];
  for (int i = 0; i < MR; ++i) {
    c0[i].store_aligned(tile + i * NR);
    c1[i].store_aligned(tile + i * NR + W);
  }
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j)
      c[i * ldc + j] = beta == T(0) ? tile[i * NR + j] : beta * c[i * ldc + j] + tile[i * NR + j];
}

template <class Arch, class T>
void gemm_micro(int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                int64_t nr, const T* bias) {
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
  store_tile<Arch>(c0, c1, c, ldc, alpha, beta, mr, nr, bias);
}

// As gemm_micro, with row p of B read through a pointer: NR contiguous values at bp[p] (any alignment).
template <class Arch, class T>
void gemm_micro_rows(int64_t k, const T* pa, const T* const* bp, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                     int64_t nr, const T* bias) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, MR = kGemmMR;
  B c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = B(T(0));
  for (int64_t p = 0; p < k; ++p) {
    const B b0 = B::load_unaligned(bp[p]), b1 = B::load_unaligned(bp[p] + W);
    const T* ap = pa + p * MR;
    for (int i = 0; i < MR; ++i) {
      const B a(ap[i]);
      c0[i] = xsimd::fma(a, b0, c0[i]);
      c1[i] = xsimd::fma(a, b1, c1[i]);
    }
  }
  store_tile<Arch>(c0, c1, c, ldc, alpha, beta, mr, nr, bias);
}

// c[i*ldc + j] (+)= sum over t < taps, k < kc of a[t*MR + i][k*cs] * pb[(t*kc + k)*NR + j] for the whole
// MR x NR tile, added to c's old values when accumulate is set: row i of A, for tap t, is kc values cs apart
// starting at a[t*MR + i] (a pixel of an NCHW image, cs = its plane size); pb holds taps*kc packed rows of
// NR values (64-byte aligned).
template <class Arch, class T>
void conv_micro(int64_t taps, int64_t kc, const T* const* a, int64_t cs, const T* pb, T* c, int64_t ldc,
                bool accumulate) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, MR = kGemmMR, NR = 2 * W;
  B c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) {
    c0[i] = accumulate ? B::load_unaligned(c + i * ldc) : B(T(0));
    c1[i] = accumulate ? B::load_unaligned(c + i * ldc + W) : B(T(0));
  }
  for (int64_t t = 0; t < taps; ++t) {
    const T *a0 = a[t * MR], *a1 = a[t * MR + 1], *a2 = a[t * MR + 2], *a3 = a[t * MR + 3], *a4 = a[t * MR + 4],
            *a5 = a[t * MR + 5];
    for (int64_t k = 0, off = 0; k < kc; ++k, off += cs, pb += NR) {
      const B b0 = B::load_aligned(pb), b1 = B::load_aligned(pb + W);
      B av(a0[off]);
      c0[0] = xsimd::fma(av, b0, c0[0]);
      c1[0] = xsimd::fma(av, b1, c1[0]);
      av = B(a1[off]);
      c0[1] = xsimd::fma(av, b0, c0[1]);
      c1[1] = xsimd::fma(av, b1, c1[1]);
      av = B(a2[off]);
      c0[2] = xsimd::fma(av, b0, c0[2]);
      c1[2] = xsimd::fma(av, b1, c1[2]);
      av = B(a3[off]);
      c0[3] = xsimd::fma(av, b0, c0[3]);
      c1[3] = xsimd::fma(av, b1, c1[3]);
      av = B(a4[off]);
      c0[4] = xsimd::fma(av, b0, c0[4]);
      c1[4] = xsimd::fma(av, b1, c1[4]);
      av = B(a5[off]);
      c0[5] = xsimd::fma(av, b0, c0[5]);
      c1[5] = xsimd::fma(av, b1, c1[5]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    c0[i].store_unaligned(c + i * ldc);
    c1[i].store_unaligned(c + i * ldc + W);
  }
}

}  // namespace elbo::kernels::simd
