#pragma once
// Direct convolution micro-kernels for few channels, templated on the architecture: the SIMD lanes run
// along an image row (W output pixels), so a layer with one input or output channel keeps every lane busy
// where a GEMM tile would waste most of its columns. The image is split into stride x stride phases
// (conv.cpp), so every tap reads a contiguous, shifted row. Included only by arch_*.cpp.
#include <immintrin.h>

#include <type_traits>

#include <xsimd/xsimd.hpp>

namespace elbo::kernels::simd {

template <class Arch> constexpr bool kWideRegs = std::is_same_v<Arch, xsimd::avx512f>;  // 32 vector registers
template <class Arch> constexpr int kDirectRT = kWideRegs<Arch> ? 4 : 2;  // rows per direct tile
template <class Arch> constexpr int kDirectOT = kWideRegs<Arch> ? 6 : 5;  // channels per direct tile
template <class Arch> constexpr int kTallRT = kWideRegs<Arch> ? 8 : 6;    // rows per one-channel tile
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
// Two shapes: direct_micro<Arch, T, kDirectRT, kDirectOT> and, for one channel, <Arch, T, kTallRT, 1>.
template <class Arch, class T, int RT, int OT>
void direct_micro(int64_t k, const int64_t* off, const T* x, int64_t vs, const T* wp, const T* bias, T* y,
                  int64_t yrow, int64_t ych, int64_t rows, int64_t chans, int64_t lanes) {
  using B = xsimd::batch<T, Arch>;
  B acc[RT][OT];
  for (int o = 0; o < OT; ++o) {
    const B b0(bias && o < chans ? bias[o] : T(0));
    for (int r = 0; r < RT; ++r) acc[r][o] = b0;
  }
  for (int64_t kk = 0; kk < k; ++kk, wp += OT) {
    const T* base = x + off[kk];
    B xv[RT];
    for (int r = 0; r < RT; ++r) xv[r] = B::load_unaligned(base + r * vs);
    for (int o = 0; o < OT; ++o) {
      const B wv(wp[o]);
      for (int r = 0; r < RT; ++r) acc[r][o] = xsimd::fma(wv, xv[r], acc[r][o]);
    }
  }
  for (int r = 0; r < RT && r < rows; ++r)
    for (int o = 0; o < OT && o < chans; ++o) store_lanes<Arch>(acc[r][o], y + o * ych + r * yrow, lanes);
}

// acc[(o*TT + t)*W + l] += sum over r < rows of g[o*gch + r*grow + l] * x[off[t] + r*xrow + l] for l < lanes
// (lanes past it add 0, whatever x holds there): the lane-wise partial sums of a weight gradient's dot
// products, OT output channels by TT (channel, tap) columns.
template <class Arch, class T>
void dot_micro(int64_t rows, const T* g, int64_t gch, int64_t grow, const int64_t* off, const T* x, int64_t xrow,
               int64_t lanes, T* acc) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size, OT = kDotOT<Arch>, TT = kDotTT;
  if (lanes < W) {  // mask x, so that 0 * inf in the unused lanes cannot turn into NaN
    alignas(64) T idx[W];
    for (int64_t l = 0; l < W; ++l) idx[l] = T(l);
    const auto keep = B::load_aligned(idx) < B(T(lanes));
    B a[OT][TT];
    for (int o = 0; o < OT; ++o)
      for (int t = 0; t < TT; ++t) a[o][t] = B::load_aligned(acc + (o * TT + t) * W);
    for (int64_t r = 0; r < rows; ++r) {
      B gv[OT];
      for (int o = 0; o < OT; ++o) gv[o] = B::load_unaligned(g + o * gch + r * grow);
      for (int t = 0; t < TT; ++t) {
        const B xv = xsimd::select(keep, B::load_unaligned(x + off[t] + r * xrow), B(T(0)));
        for (int o = 0; o < OT; ++o) a[o][t] = xsimd::fma(gv[o], xv, a[o][t]);
      }
    }
    for (int o = 0; o < OT; ++o)
      for (int t = 0; t < TT; ++t) a[o][t].store_aligned(acc + (o * TT + t) * W);
    return;
  }
  B a[OT][TT];
  for (int o = 0; o < OT; ++o)
    for (int t = 0; t < TT; ++t) a[o][t] = B::load_aligned(acc + (o * TT + t) * W);
  for (int64_t r = 0; r < rows; ++r) {
    B gv[OT];
    for (int o = 0; o < OT; ++o) gv[o] = B::load_unaligned(g + o * gch + r * grow);
    for (int t = 0; t < TT; ++t) {
      const B xv = B::load_unaligned(x + off[t] + r * xrow);
      for (int o = 0; o < OT; ++o) a[o][t] = xsimd::fma(gv[o], xv, a[o][t]);
    }
  }
  for (int o = 0; o < OT; ++o)
    for (int t = 0; t < TT; ++t) a[o][t].store_aligned(acc + (o * TT + t) * W);
}

}  // namespace elbo::kernels::simd
