#pragma once
// The GEMM micro-kernels, templated on the architecture: an MR x NR tile of C held in registers
// (NR = two SIMD batches; MR = 6 rows with 16 vector registers, 12 with AVX-512's 32), updated with one
// broadcast of A per row and two loads of B per k step.
// gemm_micro reads A from a packed panel; conv_micro reads each row of A through its own pointer (the
// indirect convolution of Dukhan 2019, "The Indirect Convolution Algorithm"), so a convolution needs no
// im2col buffer. pack_a and pack_b pack the panels with the unit's registers; the blocking lives in
// gemm.cpp and conv.cpp (baseline flags). This file is included only by arch_*.cpp.
#include <immintrin.h>

#include <array>
#include <utility>

#include <xsimd/xsimd.hpp>

#include "conv.hpp"  // kAvx
#include "kernels.h"  // kGemmSmall

namespace elbo::kernels::simd {

// Rows of the GEMM tile: 6 x 2 accumulators + 2 of B + 1 broadcast fill AVX2's 16 registers; AVX-512's 32
// take 12 x 2 + 3, which halves the loads of B and the tile stores per multiply-add.
template <class Arch> constexpr int kGemmMR = kWideRegs<Arch> ? 12 : 6;
constexpr int kConvMR = 6;  // the convolution tiles' rows (conv_micro names its six row pointers)

// Writes an R x V-batch register tile to C: c = alpha * acc (+ beta * c) (+ bias[j]), only mr x nr of it
// (mr <= R, nr <= V * W). bias (one value per column, may be null) is readable for the tile's nr columns.
template <class Arch, class T, int R, int V, class B>
void store_tile(B (&acc)[R][V], T* c, int64_t ldc, T alpha, T beta, int64_t mr, int64_t nr, const T* bias) {
  constexpr int64_t W = B::size, N = V * W;
  if (alpha != T(1)) {  // alpha = 1 (every call but the fused scalings) leaves the sums as they are
    const B va(alpha);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = va * acc[i][v];
  }
  if (bias) {
    alignas(64) T bt[N] = {};
    for (int64_t j = 0; j < nr; ++j) bt[j] = bias[j];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const B bv = B::load_aligned(bt + v * W);
#pragma GCC unroll 16
      for (int i = 0; i < R; ++i) acc[i][v] = acc[i][v] + bv;
    }
  }
  if (mr == R && nr == N) {
    const B vb(beta);
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      T* ci = c + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        if (beta == T(0)) acc[i][v].store_unaligned(ci + v * W);
        else xsimd::fma(vb, B::load_unaligned(ci + v * W), acc[i][v]).store_unaligned(ci + v * W);
      }
    }
    return;
  }
  alignas(64) T tile[R * N];
  for (int i = 0; i < R; ++i)
    for (int v = 0; v < V; ++v) acc[i][v].store_aligned(tile + i * N + v * W);
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j)
      c[i * ldc + j] = beta == T(0) ? tile[i * N + j] : beta * c[i * ldc + j] + tile[i * N + j];
}

// An R x (V batches) tile from MR-row and NR-column packed panels: R < MR serves the bottom edge of C and
// V = 1 its right edge (nr <= W), so a ragged edge costs its own rows and columns, not a whole tile's.
// Every element's sum runs the same k steps in the same order whichever tile computes it.
template <class Arch, class T, int R, int V>
void gemm_tile(int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr, int64_t nr,
               const T* bias) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, MR = kGemmMR<Arch>, NR = 2 * W;
  B acc[R][V];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[i][v] = B(T(0));
  // C's rows are written (and, after the first K block, read) once the k loop ends: fetch their lines
  // now, so the tile's store does not wait on them.
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    __builtin_prefetch(c + i * ldc, 1, 3);
    __builtin_prefetch(c + i * ldc + V * W - 1, 1, 3);
  }
  for (int64_t p = 0; p < k; ++p) {
    B b[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) b[v] = B::load_aligned(pb + p * NR + v * W);
    const T* ap = pa + p * MR;
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const B a(ap[i]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = xsimd::fma(a, b[v], acc[i][v]);
    }
  }
  store_tile<Arch, T, R, V>(acc, c, ldc, alpha, beta, mr, nr, bias);
}

// gemm_tile for 1..MR rows, indexed by rows - 1.
template <class Arch, class T, int V, int... R> constexpr auto row_tiles(std::integer_sequence<int, R...>) {
  return std::array{&gemm_tile<Arch, T, R + 1, V>...};
}

template <class Arch, class T, int V>
void gemm_rows(int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr, int64_t nr,
               const T* bias) {
  static constexpr auto tiles = row_tiles<Arch, T, V>(std::make_integer_sequence<int, kGemmMR<Arch>>());
  tiles[size_t(mr - 1)](k, pa, pb, c, ldc, alpha, beta, mr, nr, bias);
}

template <class Arch, class T>
void gemm_micro(int64_t k, const T* pa, const T* pb, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                int64_t nr, const T* bias) {
  constexpr int MR = kGemmMR<Arch>;
  if (mr == MR && nr > int64_t(xsimd::batch<T, Arch>::size))
    return gemm_tile<Arch, T, MR, 2>(k, pa, pb, c, ldc, alpha, beta, mr, nr, bias);
  if (nr > int64_t(xsimd::batch<T, Arch>::size)) return gemm_rows<Arch, T, 2>(k, pa, pb, c, ldc, alpha, beta, mr, nr, bias);
  return gemm_rows<Arch, T, 1>(k, pa, pb, c, ldc, alpha, beta, mr, nr, bias);
}

// The products of small matrices (a Sylvester flow's per-example 20 x 20 factors, 128 of them at a time):
// packing for the blocked path would cost more than the multiply-adds. op(B) is copied once into rows
// zero-padded to whole vectors, then each row of C is accumulated over k in registers, starting from
// zero and adding op(A)(i, p) op(B)(p, :) for p = 0, 1, ... as gemm_micro does, so the bits are gemm's.
// R rows of NV vectors at a time, both compile-time so the accumulators live in registers: R * NV
// independent FMA chains in flight (one row's one or two would wait on the FMA latency).
template <class Arch, class T, int R, int NV>
void gemm_small_rows(bool ta, int64_t n, int64_t k, const T* a, int64_t lda, const T* bb, T* c, int64_t ldc) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, np = NV * W;
  const int64_t full = n / W;
  B acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = B(T(0));
  for (int64_t p = 0; p < k; ++p) {
    const T* row = bb + p * np;
    B bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = B::load_aligned(row + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const B av(ta ? a[p * lda + r] : a[r * lda + p]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    T* ci = c + r * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      if (v < full) {
        acc[r][v].store_unaligned(ci + v * W);
      } else {
        alignas(64) T tail[W];
        acc[r][v].store_aligned(tail);
        for (int64_t j = v * W; j < n; ++j) ci[j] = tail[j - v * W];
      }
    }
  }
}

// C's rows R at a time (about 8 accumulators: 4 rows of 2 vectors for AVX-512's f32), the rest one by one.
template <class Arch, class T, int NV>
void gemm_small_nv(bool ta, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* bb, T* c,
                   int64_t ldc) {
  constexpr int R = NV >= 8 ? 1 : 8 / NV;
  int64_t i = 0;
  for (; i + R <= m; i += R)
    gemm_small_rows<Arch, T, R, NV>(ta, n, k, ta ? a + i : a + i * lda, lda, bb, c + i * ldc, ldc);
  for (; i < m; ++i) gemm_small_rows<Arch, T, 1, NV>(ta, n, k, ta ? a + i : a + i * lda, lda, bb, c + i * ldc, ldc);
}

template <class Arch, class T, int... NV> constexpr auto small_kernels(std::integer_sequence<int, NV...>) {
  return std::array{&gemm_small_nv<Arch, T, NV + 1>...};
}

template <class Arch, class T>
void gemm_small(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
                T* c, int64_t ldc) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, VMAX = (kGemmSmall + W - 1) / W;
  static constexpr auto kernels = small_kernels<Arch, T>(std::make_integer_sequence<int, int(VMAX)>());
  const int64_t nv = (n + W - 1) / W, np = nv * W;
  alignas(64) T bb[kGemmSmall * VMAX * W];
  for (int64_t p = 0; p < k; ++p) {
    T* row = bb + p * np;
    for (int64_t j = 0; j < n; ++j) row[j] = tb ? b[j * ldb + p] : b[p * ldb + j];
    for (int64_t j = n; j < np; ++j) row[j] = T(0);
  }
  kernels[size_t(nv - 1)](ta, m, n, k, a, lda, bb, c, ldc);
}

// Packs a kc x nc block of op(B) into NR-column panels, panel jp at dst + jp*kc (the last zero-padded):
// dst[jp*kc + p*NR + j] = op(B)(p, jp + j), where op(B)(p, j) is b[p*ldb + j], or with tb b[j*ldb + p]
// (then each panel is a transpose of B's rows).
template <class Arch, class T> void pack_b(bool tb, const T* b, int64_t ldb, int64_t kc, int64_t nc, T* dst) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, NR = 2 * W;
  const int64_t full = nc / NR * NR, w = nc - full;  // whole panels, and the last one's width
  if (tb) {
    for (int64_t jp = 0; jp < nc; jp += NR) transpose<Arch>(b + jp * ldb, ldb, dst + jp * kc, NR, std::min(NR, nc - jp), kc);
  } else {  // row by row, each row of B read once front to back and dealt to the panels
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = b + p * ldb;
      for (int64_t jp = 0; jp < full; jp += NR) {
        T* d = dst + jp * kc + p * NR;
        B::load_unaligned(src + jp).store_aligned(d);
        B::load_unaligned(src + jp + W).store_aligned(d + W);
      }
      if (w)
        for (int64_t j = 0; j < w; ++j) dst[full * kc + p * NR + j] = src[full + j];
    }
  }
  if (w)
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t j = w; j < NR; ++j) dst[full * kc + p * NR + j] = T(0);
}

// Packs rows [0, h) of an A block into an MR-row panel: dst[p*MR + i] = A(i, p) for p < kc, zero for
// i >= h, where A(i, p) is a[i*lda + p] (A as stored, rows contiguous). With 256-bit registers a full
// panel of f32 goes through 8 x 8 transposes: six rows (two zero rows; each column is stored 8 wide over
// the next one's start, the eighth 6 wide, so nothing lands past the panel), or twelve as 8 + 4.
template <class Arch, class T, int MR> void pack_a_rows(const T* a, int64_t lda, int64_t h, int64_t kc, T* dst) {
  int64_t p = 0;
  if constexpr (kAvx<Arch> && sizeof(T) == 4 && MR == 6) {
    if (h == MR) {
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8];
        for (int i = 0; i < 6; ++i) r[i] = _mm256_loadu_ps(a + i * lda + p);
        r[6] = r[7] = _mm256_setzero_ps();
        transpose8<Arch>(r);
        float* d = dst + p * MR;
        for (int q = 0; q < 7; ++q) _mm256_storeu_ps(d + q * MR, r[q]);
        _mm_storeu_ps(d + 7 * MR, _mm256_castps256_ps128(r[7]));
        _mm_storel_pi(reinterpret_cast<__m64*>(d + 7 * MR + 4), _mm256_extractf128_ps(r[7], 1));
      }
    }
  }
  if constexpr (kAvx<Arch> && sizeof(T) == 4 && MR == 12) {
    if (h == MR) {
      for (; p + 8 <= kc; p += 8) {
        __m256 r[8], s[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(a + i * lda + p);
        for (int i = 0; i < 4; ++i) s[i] = _mm256_loadu_ps(a + (8 + i) * lda + p);
        s[4] = s[5] = s[6] = s[7] = _mm256_setzero_ps();
        transpose8<Arch>(r);
        transpose8<Arch>(s);
        float* d = dst + p * MR;
        for (int q = 0; q < 8; ++q) {
          _mm256_storeu_ps(d + q * MR, r[q]);
          _mm_storeu_ps(d + q * MR + 8, _mm256_castps256_ps128(s[q]));
        }
      }
    }
  }
  for (int64_t i = 0; i < MR; ++i) {
    const T* src = a + i * lda;
    if (i < h)
      for (int64_t q = p; q < kc; ++q) dst[q * MR + i] = src[q];
    else
      for (int64_t q = p; q < kc; ++q) dst[q * MR + i] = T(0);
  }
}

// Packs an mc x kc block of op(A) into MR-row panels, panel ip at dst + ip*kc (the last one zero-padded).
// op(A)(i, p) is a[i*lda + p], or with ta a[p*lda + i]: then each row of A is read once, front to back,
// its values dealt to the panels (reading one panel's six values per row would stride through A).
template <class Arch, class T, int MR> void pack_a(bool ta, const T* a, int64_t lda, int64_t mc, int64_t kc, T* dst) {
  if (!ta) {
    for (int64_t ip = 0; ip < mc; ip += MR)
      pack_a_rows<Arch, T, MR>(a + ip * lda, lda, std::min<int64_t>(MR, mc - ip), kc, dst + ip * kc);
    return;
  }
  const int64_t full = mc / MR * MR, h = mc - full;
  for (int64_t p = 0; p < kc; ++p) {
    const T* src = a + p * lda;
    for (int64_t ip = 0; ip < full; ip += MR) {
      T* d = dst + ip * kc + p * MR;
#pragma GCC unroll 12
      for (int64_t i = 0; i < MR; ++i) d[i] = src[ip + i];
    }
    if (h) {
      T* d = dst + full * kc + p * MR;
      for (int64_t i = 0; i < MR; ++i) d[i] = i < h ? src[full + i] : T(0);
    }
  }
}

// As gemm_micro, with row p of B read through a pointer: NR contiguous values at bp[p] (any alignment).
template <class Arch, class T>
void gemm_micro_rows(int64_t k, const T* pa, const T* const* bp, T* c, int64_t ldc, T alpha, T beta, int64_t mr,
                     int64_t nr, const T* bias) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, MR = kConvMR;
  B acc[MR][2];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = B(T(0));
  for (int64_t p = 0; p < k; ++p) {
    const B b0 = B::load_unaligned(bp[p]), b1 = B::load_unaligned(bp[p] + W);
    const T* ap = pa + p * MR;
    for (int i = 0; i < MR; ++i) {
      const B a(ap[i]);
      acc[i][0] = xsimd::fma(a, b0, acc[i][0]);
      acc[i][1] = xsimd::fma(a, b1, acc[i][1]);
    }
  }
  store_tile<Arch, T, MR, 2>(acc, c, ldc, alpha, beta, mr, nr, bias);
}

// c[i*ldc + j] (+)= sum over t < taps, k < kc of a[t*MR + i][k*cs] * pb[(t*kc + k)*NR + j] for the whole
// MR x NR tile, added to c's old values when accumulate is set: row i of A, for tap t, is kc values cs apart
// starting at a[t*MR + i] (a pixel of an NCHW image, cs = its plane size); pb holds taps*kc packed rows of
// NR values (64-byte aligned).
template <class Arch, class T>
void conv_micro(int64_t taps, int64_t kc, const T* const* a, int64_t cs, const T* pb, T* c, int64_t ldc,
                bool accumulate) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, MR = kConvMR, NR = 2 * W;
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
