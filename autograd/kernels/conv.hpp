#pragma once
// Direct convolution micro-kernels for few channels, templated on the architecture: the SIMD lanes run
// along an image row (W output pixels), so a layer with one input or output channel keeps every lane busy
// where a GEMM tile would waste most of its columns. The image is split into stride x stride phases
// (conv.cpp), so every tap reads a contiguous, shifted row. Included only by arch_*.cpp.
#include <immintrin.h>

#include <algorithm>
#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace elbo::kernels::simd {

template <class Arch> constexpr bool kWideRegs = std::is_same_v<Arch, xsimd::avx512f>;  // 32 vector registers
// 256-bit AVX registers and their shuffles: the AVX2 unit, and the AVX-512 unit (a superset).
template <class Arch> constexpr bool kAvx = kWideRegs<Arch> || std::is_same_v<Arch, xsimd::fma3<xsimd::avx2>>;
template <class Arch> constexpr int kDirectRT = kWideRegs<Arch> ? 4 : 2;  // rows per direct tile
template <class Arch> constexpr int kDirectOT = kWideRegs<Arch> ? 6 : 5;  // channels per direct tile
template <class Arch> constexpr int kTallRT = kWideRegs<Arch> ? 7 : 6;    // rows per one-channel tile
template <class Arch> constexpr int kMidRT = kWideRegs<Arch> ? 7 : 3;     // a third shape: rows
template <class Arch> constexpr int kMidOT = 3;                           // and channels
template <class Arch> constexpr int kDotOT = kWideRegs<Arch> ? 4 : 2;     // output channels per dot tile
constexpr int kDotTT = 4;                                                  // (channel, tap) columns per dot tile

// p[0, lanes) = v's first lanes (a masked store where the instruction set has one).
template <class Arch, class T, class B> void store_lanes(const B& v, T* p, int64_t lanes) {
  if (lanes >= int64_t(B::size)) return v.store_unaligned(p);
  if constexpr (kWideRegs<Arch> && sizeof(T) == 4) {
    _mm512_mask_storeu_ps(p, __mmask16((1u << lanes) - 1), v);
  } else if constexpr (kWideRegs<Arch>) {
    _mm512_mask_storeu_pd(p, __mmask8((1u << lanes) - 1), v);
  } else {
    alignas(64) T buf[B::size];
    v.store_aligned(buf);
    for (int64_t l = 0; l < lanes; ++l) p[l] = buf[l];
  }
}

// y[o*ych + r*yrow + l] = bias[o] (or 0) + sum over kk < k of wp[kk*OT + o] * x[off[kk] + r*vs + l] for
// r < rows, o < chans, l < lanes: a tile of RT rows of W lanes by OT channels, each kk one (input channel,
// tap) whose shifted row starts at off[kk]. Rows, channels and lanes past the limits are computed (from
// readable memory) and dropped.
// Three shapes (conv_direct.cpp picks the one with the least padding): <kDirectRT, kDirectOT>,
// <kMidRT, kMidOT> and, for one channel, <kTallRT, 1>.
template <class Arch, class T, int RT, int OT>
void direct_micro(int64_t k, const int64_t* off, const T* x, int64_t vs, const T* wp, const T* bias, T* y,
                  int64_t yrow, int64_t ych, int64_t rows, int64_t chans, int64_t lanes) {
  using B = xsimd::batch<T, Arch>;
  // NOTE: every loop over the tile is unrolled, so the accumulators stay in registers (with a runtime
  // bound in the epilogue GCC otherwise keeps the whole tile in a stack array).
  B acc[RT][OT];
#pragma GCC unroll 8
  for (int o = 0; o < OT; ++o) {
    const B b0(bias && o < chans ? bias[o] : T(0));
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r) acc[r][o] = b0;
  }
  for (int64_t kk = 0; kk < k; ++kk, wp += OT) {
    const T* base = x + off[kk];
    B xv[RT];
#pragma GCC unroll 8
    for (int r = 0; r < RT; ++r) xv[r] = B::load_unaligned(base + r * vs);
#pragma GCC unroll 8
    for (int o = 0; o < OT; ++o) {
      const B wv(wp[o]);
#pragma GCC unroll 8
      for (int r = 0; r < RT; ++r) acc[r][o] = xsimd::fma(wv, xv[r], acc[r][o]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < RT; ++r)
#pragma GCC unroll 8
    for (int o = 0; o < OT; ++o)
      if (r < rows && o < chans) store_lanes<Arch>(acc[r][o], y + o * ych + r * yrow, lanes);
}

// acc[(o*TT + t)*W + l] += sum over r < rows of g[o*gch + r*grow + l] * x[off[t] + r*xrow + l] for l < lanes
// (lanes past it add 0, whatever x holds there): the lane-wise partial sums of a weight gradient's dot
// products, OT output channels by TT (channel, tap) columns. Masked: x's lanes past `lanes` are zeroed,
// so that 0 * inf there cannot turn into NaN.
template <class Arch, bool Masked, class T>
void dot_micro_body(int64_t rows, const T* g, int64_t gch, int64_t grow, const int64_t* off, const T* x,
                    int64_t xrow, int64_t lanes, T* acc) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, OT = kDotOT<Arch>, TT = kDotTT;
  alignas(64) T idx[W];
  for (int64_t l = 0; l < W; ++l) idx[l] = T(l);
  const auto keep = B::load_aligned(idx) < B(T(lanes));
  B a[OT][TT];
#pragma GCC unroll 8
  for (int o = 0; o < OT; ++o)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) a[o][t] = B::load_aligned(acc + (o * TT + t) * W);
  for (int64_t r = 0; r < rows; ++r) {
    B gv[OT];
#pragma GCC unroll 8
    for (int o = 0; o < OT; ++o) gv[o] = B::load_unaligned(g + o * gch + r * grow);
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) {
      B xv = B::load_unaligned(x + off[t] + r * xrow);
      if constexpr (Masked) xv = xsimd::select(keep, xv, B(T(0)));
#pragma GCC unroll 8
      for (int o = 0; o < OT; ++o) a[o][t] = xsimd::fma(gv[o], xv, a[o][t]);
    }
  }
#pragma GCC unroll 8
  for (int o = 0; o < OT; ++o)
#pragma GCC unroll 8
    for (int t = 0; t < TT; ++t) a[o][t].store_aligned(acc + (o * TT + t) * W);
}
template <class Arch, class T>
void dot_micro(int64_t rows, const T* g, int64_t gch, int64_t grow, const int64_t* off, const T* x, int64_t xrow,
               int64_t lanes, T* acc) {
  if (lanes < int64_t(xsimd::batch<T, Arch>::size)) dot_micro_body<Arch, true>(rows, g, gch, grow, off, x, xrow, lanes, acc);
  else dot_micro_body<Arch, false>(rows, g, gch, grow, off, x, xrow, lanes, acc);
}

// One W x W block: d[j*ldd + i] = s[i*lds + j], with AVX-512 shuffles (unpack within 128-bit lanes, then
// two rounds of 128-bit lane shuffles across rows). Templated on Arch, so that only the AVX-512 unit
// instantiates it (see table.h on inline functions across instruction sets).
template <class Arch> void transpose_block(const float* s, int64_t lds, float* d, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(s + i * lds);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // lane k of r[4i + m]: rows 4i..4i+3 of column 4k + m
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), e = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
  }
  for (int m = 0; m < 4; ++m) {
    t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
    t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
  }
  for (int m = 0; m < 4; ++m) {
    _mm512_storeu_ps(d + m * ldd, _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88));
    _mm512_storeu_ps(d + (8 + m) * ldd, _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd));
    _mm512_storeu_ps(d + (4 + m) * ldd, _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88));
    _mm512_storeu_ps(d + (12 + m) * ldd, _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd));
  }
}
template <class Arch> void transpose_block(const double* s, int64_t lds, double* d, int64_t ldd) {
  __m512d r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(s + i * lds);
  for (int i = 0; i < 4; ++i) {  // lane k of t[2i + m]: rows 2i, 2i+1 of column 2k + m
    t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
  }
  for (int m = 0; m < 2; ++m) {
    r[m] = _mm512_shuffle_f64x2(t[m], t[2 + m], 0x88);
    r[2 + m] = _mm512_shuffle_f64x2(t[m], t[2 + m], 0xdd);
    r[4 + m] = _mm512_shuffle_f64x2(t[4 + m], t[6 + m], 0x88);
    r[6 + m] = _mm512_shuffle_f64x2(t[4 + m], t[6 + m], 0xdd);
  }
  for (int m = 0; m < 2; ++m) {
    _mm512_storeu_pd(d + m * ldd, _mm512_shuffle_f64x2(r[m], r[4 + m], 0x88));
    _mm512_storeu_pd(d + (4 + m) * ldd, _mm512_shuffle_f64x2(r[m], r[4 + m], 0xdd));
    _mm512_storeu_pd(d + (2 + m) * ldd, _mm512_shuffle_f64x2(r[2 + m], r[6 + m], 0x88));
    _mm512_storeu_pd(d + (6 + m) * ldd, _mm512_shuffle_f64x2(r[2 + m], r[6 + m], 0xdd));
  }
}

// The 8 x 8 (f32) and 4 x 4 (f64) blocks in 256-bit registers: unpack pairs of rows, interleave pairs of
// those within 128-bit lanes, then swap 128-bit halves across rows. transpose8 turns r[i] = row i into
// r[j] = column j in place.
template <class Arch> [[gnu::always_inline]] inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // r[4h + m]: rows 4h..4h+3 of column m (low half) and m + 4 (high half)
    r[4 * h] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    r[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
    r[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    r[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
  }
  for (int m = 0; m < 4; ++m) {
    t[m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x20);
    t[4 + m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x31);
  }
  for (int j = 0; j < 8; ++j) r[j] = t[j];
}
template <class Arch> void transpose_block256(const float* s, int64_t lds, float* d, int64_t ldd) {
  __m256 r[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * lds);
  transpose8<Arch>(r);
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(d + j * ldd, r[j]);
}
template <class Arch> void transpose_block256(const double* s, int64_t lds, double* d, int64_t ldd) {
  __m256d r[4];
  for (int i = 0; i < 4; ++i) r[i] = _mm256_loadu_pd(s + i * lds);
  const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  _mm256_storeu_pd(d, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(d + ldd, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(d + 2 * ldd, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(d + 3 * ldd, _mm256_permute2f128_pd(t1, t3, 0x31));
}

// d[j*ldd + i] = s[i*lds + j] for i < rows, j < cols: whole W x W blocks in the widest registers the unit
// has (AVX-512: 64 bytes, AVX2: 32 bytes), the rest scalar.
template <class Arch, class T>
void transpose(const T* s, int64_t lds, T* d, int64_t ldd, int64_t rows, int64_t cols) {
  constexpr int64_t W = (kWideRegs<Arch> ? 64 : 32) / sizeof(T);
  int64_t r0 = 0;
  if constexpr (kAvx<Arch>) {
    for (; r0 + W <= rows; r0 += W) {
      int64_t c0 = 0;
      for (; c0 + W <= cols; c0 += W) {
        if constexpr (kWideRegs<Arch>) transpose_block<Arch>(s + r0 * lds + c0, lds, d + c0 * ldd + r0, ldd);
        else transpose_block256<Arch>(s + r0 * lds + c0, lds, d + c0 * ldd + r0, ldd);
      }
      for (int64_t j = c0; j < cols; ++j)
        for (int64_t i = r0; i < r0 + W; ++i) d[j * ldd + i] = s[i * lds + j];
    }
  }
  for (int64_t j0 = 0; j0 < cols; j0 += W)  // W columns at a time, so their rows of d stay in L1
    for (int64_t i = r0; i < rows; ++i)
      for (int64_t j = j0; j < std::min(cols, j0 + W); ++j) d[j * ldd + i] = s[i * lds + j];
}

}  // namespace elbo::kernels::simd
