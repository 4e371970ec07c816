// Direct convolution for few channels (see conv_direct.h). The image is split into stride x stride phases,
// zero-padded: xph[c][a][b][u][v] = x[c][u*s + a - pad][v*s + b - pad], so tap (i, j) of output row oh
// reads the contiguous row xph[c][i % s][j % s][oh + i / s][j / s + ...]. The input gradient pads the
// output side instead and gathers per phase of the image, as conv.cpp's indirect path does.
// Work splits into whole images (forward, input gradient) or weight tiles (weight gradient), claimed one
// at a time, so results do not depend on the thread count or on which thread runs what.
#include "conv_direct.h"

#include <algorithm>

#include "thread_pool.h"

namespace elbo::kernels::direct {
namespace {

constexpr int64_t kMaxLanes = 16, kMaxRT = 8, kMaxOT = 6, kMaxTile = 24, kMaxDotOT = 4, kDotTT = 4, kMaxStride = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }
int64_t lanes_of(size_t itemsize) { return 64 / int64_t(itemsize); }  // the widest instruction set's

// The tile shape for a pass with `rows` x `chans` outputs: the one that pads them least, counting the
// one-channel tile's load pressure.
template <class T> struct Shape {
  int64_t rt, ot;
  typename Table<T>::DirectFn micro;
};
template <class T> Shape<T> shape_for(const Table<T>& tb, int64_t rows, int64_t chans) {
  const Shape<T> shapes[] = {{tb.direct_rt, tb.direct_ot, tb.direct_micro},
                             {tb.mid_rt, tb.mid_ot, tb.mid_micro},
                             {tb.tall_rt, 1, tb.tall_micro}};
  // Padded FMAs, times the load pressure of narrow tiles: each step loads rt rows and broadcasts ot
  // weights for rt*ot FMAs, and a core issues about two loads per FMA.
  auto work = [&](const Shape<T>& s) {
    const double padded = double(ceil_div(rows, s.rt) * s.rt * ceil_div(chans, s.ot) * s.ot);
    return padded * std::max(1.0, 1.5 * double(s.rt + s.ot) / double(s.rt * s.ot));
  };
  const Shape<T>* best = &shapes[0];
  for (const Shape<T>& s : shapes)
    if (work(s) < work(*best)) best = &s;
  return *best;
}

// The phase-split image of one input image: [c][s*s][U][Vs], rows and columns covering every tile's reads.
struct Layout {
  int64_t u, vs, plane, chan, image;
};
Layout layout(const ConvGeom& g, int64_t lanes, int64_t rt) {
  const int64_t s = g.stride;
  const int64_t u = std::max(ceil_div(g.h + 2 * g.pad, s), ceil_div(g.ho, rt) * rt + (g.kh - 1) / s);
  const int64_t vs = ceil_div(g.wo, lanes) * lanes + (g.kw - 1) / s;
  return {u, vs, u * vs, s * s * u * vs, g.c * s * s * u * vs};
}

template <class T> void split_phases(const ConvGeom& g, const Layout& l, const T* x, T* xph) {
  std::fill(xph, xph + l.image, T(0));
  const int64_t s = g.stride;
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t ih = 0; ih < g.h; ++ih) {
      const int64_t a = (ih + g.pad) % s, u = (ih + g.pad) / s;
      if (u >= l.u) continue;
      const T* src = x + (c * g.h + ih) * g.w;
      T* row = xph + c * l.chan + a * s * l.plane + u * l.vs;
      for (int64_t iw = 0, b = g.pad % s, v = g.pad / s; iw < g.w && v < l.vs; ++iw) {
        row[b * l.plane + v] = src[iw];
        if (++b == s) b = 0, ++v;
      }
    }
}

// off[c*taps + t] = where tap t = (i, j) of channel c starts reading for output (0, 0).
void tap_offsets(const ConvGeom& g, const Layout& l, int64_t* off) {
  const int64_t s = g.stride, taps = g.kh * g.kw;
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t i = t / g.kw, j = t % g.kw;
      off[c * taps + t] = c * l.chan + ((i % s) * s + j % s) * l.plane + (i / s) * l.vs + j / s;
    }
}

// The input gradient's padded output side: yp[o][U][V] = y[o][u - top][v - left] (0 outside), with every
// phase's taps reading rows u + dh + top for dh = (h0 + pad - ki) / s.
struct AdjLayout {
  int64_t top, left, u, v, image;
};
AdjLayout adj_layout(const ConvGeom& g, int64_t lanes, int64_t rt) {
  const int64_t s = g.stride;
  int64_t lo_h = 0, hi_h = 0, lo_w = 0, hi_w = 0, nh = 0, nw = 0;
  for (int64_t r = 0; r < s; ++r) {
    const int64_t h0 = ((r - g.pad) % s + s) % s, w0 = h0;
    for (int64_t k = r; k < std::max(g.kh, g.kw); k += s) {
      if (k < g.kh) lo_h = std::min(lo_h, (h0 + g.pad - k) / s), hi_h = std::max(hi_h, (h0 + g.pad - k) / s);
      if (k < g.kw) lo_w = std::min(lo_w, (w0 + g.pad - k) / s), hi_w = std::max(hi_w, (w0 + g.pad - k) / s);
    }
    if (h0 < g.h) nh = std::max(nh, (g.h - 1 - h0) / s + 1);
    if (w0 < g.w) nw = std::max(nw, (g.w - 1 - w0) / s + 1);
  }
  const int64_t top = -lo_h, left = -lo_w;
  const int64_t u = std::max(ceil_div(nh, rt) * rt + hi_h + top, g.ho + top);
  const int64_t v = std::max(ceil_div(nw, lanes) * lanes + hi_w + left, g.wo + left);
  return {top, left, u, v, g.o * u * v};
}

// NOTE: rows are short (a few lanes); plain loops, since std::copy would call memmove for each.
template <class T> void copy_row(const T* s, int64_t n, T* d) {
  for (int64_t i = 0; i < n; ++i) d[i] = s[i];
}
template <class T> void zero_row(T* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = T(0);
}

template <class T> void pad_output(const ConvGeom& g, const AdjLayout& l, const T* y, T* yp) {
  for (int64_t o = 0; o < g.o; ++o) {
    T* plane = yp + o * l.u * l.v;
    zero_row(plane, l.top * l.v);
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      T* row = plane + (oh + l.top) * l.v;
      zero_row(row, l.left);
      copy_row(y + (o * g.ho + oh) * g.wo, g.wo, row + l.left);
      zero_row(row + l.left + g.wo, l.v - l.left - g.wo);
    }
    zero_row(plane + (g.ho + l.top) * l.v, (l.u - g.ho - l.top) * l.v);
  }
}

// The weight gradient's output side with zero lanes past wo: gp[o][oh][V], V a whole number of lanes.
template <class T> void pad_lanes(const ConvGeom& g, int64_t vg, int64_t opad, const T* gy, T* gp) {
  for (int64_t o = 0; o < opad; ++o)
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      T* d = gp + (o * g.ho + oh) * vg;
      if (o < g.o) copy_row(gy + (o * g.ho + oh) * g.wo, g.wo, d);
      zero_row(d + (o < g.o ? g.wo : 0), vg - (o < g.o ? g.wo : 0));
    }
}

// Runs f(item, thread) for every item, on the pool when the work (flops per item) pays for waking it.
template <class F> void for_items(int64_t n, int64_t flops, F&& f) {
  if (n * flops < (int64_t(1) << 18)) {
    for (int64_t i = 0; i < n; ++i) f(i, 0);
    return;
  }
  parallel_tasks(n, [&](int64_t i, int thread) { f(i, thread); });
}

}  // namespace

bool forward_fits(const ConvGeom& g, int64_t lanes) {
  return g.c * g.kh * g.kw <= 64 && 2 * g.wo >= lanes;
}
bool input_grad_fits(const ConvGeom& g, int64_t lanes) {
  const int64_t taps = ceil_div(g.kh, g.stride) * ceil_div(g.kw, g.stride);
  return 4 * g.c <= 2 * lanes && g.o * taps <= kMaxK && 2 * ceil_div(g.w, g.stride) >= lanes && g.stride <= kMaxStride;
}
bool weight_grad_fits(const ConvGeom& g, int64_t lanes) {
  return g.c * g.kh * g.kw <= 64 && 2 * g.wo >= lanes;
}

// Images per block of the weight gradient: about 256 KiB of phase-split images and padded gradients.
int64_t dot_block(const ConvGeom& g, int64_t image) {
  return std::clamp<int64_t>((int64_t(1) << 16) / std::max<int64_t>(1, image), 1, std::max<int64_t>(1, g.n));
}
int64_t dot_image(const ConvGeom& g, int64_t lanes) {  // one image's phases and padded gradient
  return round16(layout(g, lanes, 1).image) + round16((g.o + kMaxDotOT) * g.ho * ceil_div(g.wo, lanes) * lanes);
}

int64_t workspace(const ConvGeom& g, size_t itemsize) {
  const int64_t lanes = lanes_of(itemsize), taps = g.kh * g.kw, k = g.c * taps, threads = num_threads(),
                s = std::min(g.stride, kMaxStride);
  int64_t fwd_image = 0, adj_image = 0;  // over every tile height an instruction set uses
  for (int64_t rt = 1; rt <= kMaxRT; ++rt) {
    fwd_image = std::max(fwd_image, layout(g, lanes, rt).image);
    adj_image = std::max(adj_image, adj_layout(g, lanes, rt).image);
  }
  const int64_t fwd = round16((g.o + kMaxOT) * k) + threads * round16(fwd_image);
  const int64_t adj = round16(s * s * kMaxK * 8 / int64_t(itemsize)) + (g.c + kMaxOT) * g.o * taps + s * s * 16 +
                      threads * round16(adj_image);
  const int64_t dot = round16((g.o + kMaxDotOT) * (k + kDotTT) * lanes) + dot_block(g, dot_image(g, lanes)) * dot_image(g, lanes);
  return std::max({fwd, adj, dot});
}

template <class T> void forward(const Table<T>& tb, const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, T* work) {
  const Shape<T> sh = shape_for(tb, g.ho, g.o);
  const int64_t lanes = tb.lanes, rt = sh.rt, ot = sh.ot, taps = g.kh * g.kw, k = g.c * taps,
                otiles = ceil_div(g.o, ot), hw = g.h * g.w, p = g.ho * g.wo;
  const Layout l = layout(g, lanes, rt);
  int64_t off[kMaxK];
  tap_offsets(g, l, off);
  T* wp = work;  // wp[ot][kk*OT + o] = w[o0 + o, kk]
  for (int64_t t = 0; t < otiles; ++t)
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t o = 0; o < ot; ++o) wp[(t * k + kk) * ot + o] = t * ot + o < g.o ? w[(t * ot + o) * k + kk] : T(0);
  T* slices = wp + round16(otiles * k * ot);
  for_items(g.n, 2 * p * k * g.o, [&](int64_t b, int thread) {  // an image per task
    T* xph = slices + thread * round16(l.image);
    {
      split_phases(g, l, x + b * g.c * hw, xph);
      for (int64_t t = 0; t < otiles; ++t) {
        const int64_t o0 = t * ot;
        for (int64_t r0 = 0; r0 < g.ho; r0 += rt)
          for (int64_t v0 = 0; v0 < g.wo; v0 += lanes)
            sh.micro(k, off, xph + r0 * l.vs + v0, l.vs, wp + t * k * ot, bias ? bias + o0 : nullptr,
                            y + (b * g.o + o0) * p + r0 * g.wo + v0, g.wo, p, g.ho - r0, g.o - o0, g.wo - v0);
      }
    }
  });
}

template <class T>
void input_grad(const Table<T>& tb, const ConvGeom& g, const T* y, const T* w, const T* bias, T* x, T* work) {
  const Shape<T> sh = shape_for(tb, ceil_div(g.h, g.stride), g.c);
  const int64_t lanes = tb.lanes, rt = sh.rt, ot = sh.ot, s = g.stride, ctiles = ceil_div(g.c, ot),
                hw = g.h * g.w, p = g.ho * g.wo;
  const AdjLayout l = adj_layout(g, lanes, rt);
  // Per phase (rh, rw): its taps, offsets into yp and packed weights wp[ct][kk*OT + c] = w[o, c0 + c, tap].
  struct PhaseInfo {
    int64_t h0, nh, w0, nw, k;
    const T* wp;
    const int64_t* off;
  };
  PhaseInfo info[kMaxStride * kMaxStride];
  // Each phase's taps: offsets into yp (for its output pixel (0, 0)) and the packed weight.
  int64_t* offs = reinterpret_cast<int64_t*>(work);  // [s*s][kMaxK]
  T* wp = work + round16(s * s * kMaxK * int64_t(sizeof(int64_t) / sizeof(T)));
  int64_t used = 0;
  for (int64_t rh = 0; rh < s; ++rh)
    for (int64_t rw = 0; rw < s; ++rw) {
      PhaseInfo& ph = info[rh * s + rw];
      const int64_t ni = rh < g.kh ? ceil_div(g.kh - rh, s) : 0, nj = rw < g.kw ? ceil_div(g.kw - rw, s) : 0;
      ph.h0 = ((rh - g.pad) % s + s) % s;
      ph.w0 = ((rw - g.pad) % s + s) % s;
      ph.nh = ph.h0 < g.h ? (g.h - 1 - ph.h0) / s + 1 : 0;
      ph.nw = ph.w0 < g.w ? (g.w - 1 - ph.w0) / s + 1 : 0;
      ph.k = g.o * ni * nj;
      ph.wp = wp + used;
      ph.off = offs + (rh * s + rw) * kMaxK;
      for (int64_t o = 0; o < g.o; ++o)
        for (int64_t t = 0; t < ni * nj; ++t) {
          const int64_t ki = rh + (t / nj) * s, kj = rw + (t % nj) * s, kk = o * ni * nj + t;
          const int64_t dh = (ph.h0 + g.pad - ki) / s, dw = (ph.w0 + g.pad - kj) / s;  // exact divisions
          offs[(rh * s + rw) * kMaxK + kk] = (o * l.u + dh + l.top) * l.v + dw + l.left;
          for (int64_t ct = 0; ct < ctiles; ++ct)
            for (int64_t c = 0; c < ot; ++c) {
              const int64_t ci = ct * ot + c;
              wp[used + (ct * ph.k + kk) * ot + c] = ci < g.c ? w[((o * g.c + ci) * g.kh + ki) * g.kw + kj] : T(0);
            }
        }
      used += round16(ctiles * ph.k * ot);
    }
  T* slices = wp + used;
  for_items(g.n, 2 * hw * g.c * g.o * g.kh * g.kw / (s * s), [&](int64_t b, int thread) {  // an image per task
    T* yp = slices + thread * round16(l.image);
    alignas(64) T tile[kMaxTile * kMaxLanes];
    {
      pad_output(g, l, y + b * g.o * p, yp);
      for (int64_t rh = 0; rh < s; ++rh)
        for (int64_t rw = 0; rw < s; ++rw) {
          const PhaseInfo& ph = info[rh * s + rw];
          if (ph.nh == 0 || ph.nw == 0) continue;
          for (int64_t ct = 0; ct < ctiles; ++ct) {
            const int64_t c0 = ct * ot, cols = std::min(ot, g.c - c0);
            for (int64_t u0 = 0; u0 < ph.nh; u0 += rt)
              for (int64_t v0 = 0; v0 < ph.nw; v0 += lanes) {
                sh.micro(ph.k, ph.off, yp + u0 * l.v + v0, l.v, ph.wp + ct * ph.k * ot, bias ? bias + c0 : nullptr,
                                tile, ot * lanes, lanes, rt, cols, lanes);
                const int64_t rows = std::min(rt, ph.nh - u0), n = std::min(lanes, ph.nw - v0);
                for (int64_t r = 0; r < rows; ++r)
                  for (int64_t c = 0; c < cols; ++c) {
                    T* d = x + (b * g.c + c0 + c) * hw + (ph.h0 + (u0 + r) * s) * g.w + ph.w0 + v0 * s;
                    const T* src = tile + (r * ot + c) * lanes;
                    for (int64_t i = 0; i < n; ++i) d[i * s] = src[i];
                  }
              }
          }
        }
    }
  });
}

template <class T> void weight_grad(const Table<T>& tb, const ConvGeom& g, const T* x, const T* gy, T* gw, T* work) {
  const int64_t lanes = tb.lanes, ot = tb.dot_ot, taps = g.kh * g.kw, k = g.c * taps, hw = g.h * g.w,
                p = g.ho * g.wo, otiles = ceil_div(g.o, ot), ktiles = ceil_div(k, kDotTT),
                vg = ceil_div(g.wo, lanes) * lanes, opad = otiles * ot, tile = ot * kDotTT * lanes;
  const Layout l = layout(g, lanes, 1);
  int64_t off[kMaxK + kDotTT] = {};
  tap_offsets(g, l, off);  // entries past k stay 0: readable, and their sums are dropped
  const int64_t image = dot_image(g, lanes), block = dot_block(g, dot_image(g, lanes_of(sizeof(T))));
  T* acc = work;
  T* blk = acc + round16(otiles * ktiles * tile);
  std::fill(acc, acc + otiles * ktiles * tile, T(0));
  const int64_t pairs = otiles * ktiles;
  for (int64_t b0 = 0; b0 < g.n; b0 += block) {
    const int64_t nb = std::min(block, g.n - b0);
    parallel_for(nb, 4, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        split_phases(g, l, x + (b0 + i) * g.c * hw, blk + i * image);
        pad_lanes(g, vg, opad, gy + (b0 + i) * g.o * p, blk + i * image + round16(l.image));
      }
    });
    for_items(pairs, 2 * nb * p * ot * kDotTT, [&](int64_t pair, int) {  // a tile of weights per task
      {
        const int64_t to = pair / ktiles, tk = pair % ktiles;
        for (int64_t i = 0; i < nb; ++i) {
          const T* xph = blk + i * image;
          const T* gp = xph + round16(l.image);
          for (int64_t v0 = 0; v0 < g.wo; v0 += lanes)
            tb.dot_micro(g.ho, gp + to * ot * g.ho * vg + v0, g.ho * vg, vg, off + tk * kDotTT, xph + v0, l.vs,
                         std::min(lanes, g.wo - v0), acc + pair * tile);
        }
      }
    });
  }
  for (int64_t o = 0; o < g.o; ++o)
    for (int64_t kk = 0; kk < k; ++kk) {
      const T* a = acc + ((o / ot) * ktiles + kk / kDotTT) * tile + ((o % ot) * kDotTT + kk % kDotTT) * lanes;
      T sum = 0;
      for (int64_t i = 0; i < lanes; ++i) sum += a[i];
      gw[o * k + kk] = sum;
    }
}

#define ELBO_INSTANTIATE(T)                                                                                  \
  template void forward<T>(const Table<T>&, const ConvGeom&, const T*, const T*, const T*, T*, T*);        \
  template void input_grad<T>(const Table<T>&, const ConvGeom&, const T*, const T*, const T*, T*, T*);     \
  template void weight_grad<T>(const Table<T>&, const ConvGeom&, const T*, const T*, T*, T*);
ELBO_INSTANTIATE(float)
ELBO_INSTANTIATE(double)
#undef ELBO_INSTANTIATE

}  // namespace elbo::kernels::direct
