// Convolution kernels, NCHW. For a geometry g (conv2d: image x [n, c, h, w], weight [o, c, kh, kw], output
// y [n, o, ho, wo]) and pix(p, t) the image pixel that output pixel p reads through tap t:
//   forward       y[b, o, p]     = bias[o] + sum over (c, t) of w[o, c, t] x[b, c, pix(p, t)]
//   input grad    x[b, c, q]     = bias[c] + sum over (o, t, p with pix(p, t) = q) of w[o, c, t] y[b, o, p]
//   weight grad   gw[o, c, t]    = sum over (b, p) of gy[b, o, p] x[b, c, pix(p, t)]
// Forward and input gradient run the indirect convolution algorithm (Dukhan 2019, "The Indirect
// Convolution Algorithm"): GEMM rows are pixels, and the micro-kernel reads each row's receptive field
// through one pointer per tap straight from the NCHW image, so no im2col buffer is written or packed.
// The input gradient (the adjoint, conv_transpose2d's forward) is split by phase, the sub-pixel view of a
// strided transposed convolution (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
// Using an Efficient Sub-Pixel Convolutional Neural Network"): image pixels with equal (h + pad) mod
// stride and (w + pad) mod stride gather from the same taps, so each phase is one indirect convolution
// that writes every pixel once, with no col2im scatter-add. The weight gradient is a GEMM over the batch's
// pixels; the image is first transposed to channels-last, so each packed row is a contiguous run.
// Threads split pixels (forward, input gradient) or weight columns (weight gradient): every output
// element sees the same arithmetic for any thread count.
#include <algorithm>
#include <cstdint>

#include "conv_direct.h"
#include "table.h"
#include "thread_pool.h"

namespace elbo::kernels {

const Tables& current();

namespace {

constexpr int64_t kMaxMR = 6, kMaxNR = 32;  // the largest micro-tile of any instruction set (f32, AVX-512)
constexpr int64_t kTapGroup = 16;           // taps per micro-kernel call (the pointer table is on the stack)
constexpr int64_t kKC = 256;                // pixels per packed block of the weight gradient's GEMM

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }  // keeps sub-buffers 64-byte aligned
int64_t max_nr(size_t itemsize) { return 2 * 64 / int64_t(itemsize); }
// The workspace rounded up to 64 bytes (conv_workspace leaves room), for the micro-kernels' aligned loads.
template <class T> T* aligned(T* work) {
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(work) + 63) / 64 * 64);
}

// Enough flops per chunk to pay for waking a thread.
int64_t grain_for(int64_t flops_per_item) { return std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, flops_per_item)); }

// The taps of one input-gradient phase: kernel rows i = rh, rh + s, ... < kh (columns likewise), and the
// image rows h = h0, h0 + s, ... < H that gather through them.
struct Phase {
  int64_t i0, ni, h0, nh;
};
Phase phase_of(int64_t r, int64_t k, int64_t size, int64_t s, int64_t pad) {
  const int64_t ni = r < k ? ceil_div(k - r, s) : 0;
  const int64_t h0 = ((r - pad) % s + s) % s;
  return {r, ni, h0, h0 < size ? (size - 1 - h0) / s + 1 : 0};
}

// Sizes (elements) of the scratch areas of each pass.
int64_t forward_work(const ConvGeom& g, int64_t nr) {
  return round16(ceil_div(g.o, nr) * g.kh * g.kw * g.c * nr) + round16((g.c - 1) * g.h * g.w + 1);
}
int64_t input_grad_work(const ConvGeom& g, int64_t nr) {  // every phase's packed weight, then zeros
  return round16(ceil_div(g.c, nr) * g.kh * g.kw * g.o * nr) + g.stride * g.stride * 16 +
         round16((g.o - 1) * g.ho * g.wo + 1);
}
int64_t grad_images(const ConvGeom& g) {  // images per block of the input gradient: about 256 KiB of f32
  const int64_t fit = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, g.c * g.h * g.w));
  return std::clamp<int64_t>(std::min(fit, ceil_div(g.n, num_threads())), 1, std::max<int64_t>(g.n, 1));
}
int64_t wgrad_images(const ConvGeom& g) {  // images per channels-last chunk: about 256 KiB of f32
  return std::clamp<int64_t>((int64_t(1) << 16) / std::max<int64_t>(1, g.c * g.h * g.w), 1, std::max<int64_t>(g.n, 1));
}
int64_t wgrad_slice(const ConvGeom& g, int64_t nr) {  // one task's packing buffers
  return round16(ceil_div(g.o, kMaxMR) * kMaxMR * kKC) + round16(nr * kKC);
}
int64_t weight_grad_work(const ConvGeom& g, int64_t nr) {
  return round16(g.o * g.kh * g.kw * g.c) + round16((wgrad_images(g) * g.h * g.w + 1) * g.c) +
         num_threads() * wgrad_slice(g, nr);
}

// --- forward ---------------------------------------------------------------------------------------------

// pb[jp][(t*c + ci)*NR + j] = w[jp*NR + j, ci, t] (zero past o): the weight as B [taps*c, o] in NR panels.
template <class T> void pack_forward_weight(const ConvGeom& g, const T* w, int64_t nr, T* pb) {
  const int64_t taps = g.kh * g.kw, k = taps * g.c;
  for (int64_t jp = 0; jp < ceil_div(g.o, nr); ++jp)
    for (int64_t t = 0; t < taps; ++t)
      for (int64_t ci = 0; ci < g.c; ++ci) {
        T* d = pb + (jp * k + t * g.c + ci) * nr;
        for (int64_t j = 0; j < nr; ++j) {
          const int64_t o = jp * nr + j;
          d[j] = o < g.o ? w[(o * g.c + ci) * taps + t] : T(0);
        }
      }
}

template <class T>
void forward_tiles(const Table<T>& tb, const ConvGeom& g, const T* x, const T* bias, T* y, const T* pb,
                   const T* zero, int64_t t0, int64_t t1) {
  const int64_t mr = tb.gemm_mr, nr = tb.gemm_nr, taps = g.kh * g.kw, k = taps * g.c, p = g.ho * g.wo,
                m = g.n * p, hw = g.h * g.w;
  alignas(64) T tile[kMaxMR * kMaxNR];
  const T* ptr[kTapGroup * kMaxMR];
  const T* img[kMaxMR];
  int64_t ih0[kMaxMR], iw0[kMaxMR], yoff[kMaxMR];
  for (int64_t ti = t0; ti < t1; ++ti) {
    const int64_t m0 = ti * mr, rows = std::min(mr, m - m0);
    for (int64_t i = 0; i < mr; ++i) {
      const int64_t mi = m0 + std::min(i, rows - 1), b = mi / p, q = mi % p;
      img[i] = i < rows ? x + b * g.c * hw : nullptr;
      ih0[i] = (q / g.wo) * g.stride - g.pad;
      iw0[i] = (q % g.wo) * g.stride - g.pad;
      yoff[i] = b * g.o * p + q;
    }
    for (int64_t jp = 0; jp < ceil_div(g.o, nr); ++jp) {
      const int64_t o0 = jp * nr, cols = std::min(nr, g.o - o0);
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) tile[i * nr + j] = bias && j < cols ? bias[o0 + j] : T(0);
      for (int64_t tg = 0; tg < taps; tg += kTapGroup) {
        const int64_t nt = std::min(kTapGroup, taps - tg);
        for (int64_t tt = 0; tt < nt; ++tt) {
          const int64_t ki = (tg + tt) / g.kw, kj = (tg + tt) % g.kw;
          for (int64_t i = 0; i < mr; ++i) {
            const int64_t ih = ih0[i] + ki, iw = iw0[i] + kj;
            ptr[tt * mr + i] =
                img[i] && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? img[i] + ih * g.w + iw : zero;
          }
        }
        tb.conv_micro(nt, g.c, ptr, hw, pb + (jp * k + tg * g.c) * nr, tile);
      }
      for (int64_t i = 0; i < rows; ++i) {
        T* yi = y + yoff[i] + o0 * p;
        for (int64_t j = 0; j < cols; ++j) yi[j * p] = tile[i * nr + j];
      }
    }
  }
}

// --- input gradient (the adjoint) ------------------------------------------------------------------------

// The weight of one phase as B [ntaps*o, c] in NR panels: pb[jp][(t*o + oi)*NR + j] = w[oi, jp*NR + j, tap t].
template <class T>
void pack_phase_weight(const ConvGeom& g, const T* w, const Phase& ph, const Phase& pw, int64_t nr, T* pb) {
  const int64_t nt = ph.ni * pw.ni, k = nt * g.o;
  for (int64_t jp = 0; jp < ceil_div(g.c, nr); ++jp)
    for (int64_t t = 0; t < nt; ++t) {
      const int64_t ki = ph.i0 + (t / pw.ni) * g.stride, kj = pw.i0 + (t % pw.ni) * g.stride;
      for (int64_t oi = 0; oi < g.o; ++oi) {
        T* d = pb + (jp * k + t * g.o + oi) * nr;
        for (int64_t j = 0; j < nr; ++j) {
          const int64_t ci = jp * nr + j;
          d[j] = ci < g.c ? w[((oi * g.c + ci) * g.kh + ki) * g.kw + kj] : T(0);
        }
      }
    }
}

template <class T>
void phase_tiles(const Table<T>& tb, const ConvGeom& g, const Phase& ph, const Phase& pw, const T* y,
                 const T* bias, T* x, const T* pb, const T* zero, int64_t t0, int64_t t1) {
  const int64_t mr = tb.gemm_mr, nr = tb.gemm_nr, nt = ph.ni * pw.ni, k = nt * g.o, p = g.ho * g.wo,
                per_image = ph.nh * pw.nh, m = g.n * per_image, hw = g.h * g.w;
  alignas(64) T tile[kMaxMR * kMaxNR];
  const T* ptr[kTapGroup * kMaxMR];
  const T* src[kMaxMR];
  int64_t hh[kMaxMR], ww[kMaxMR], xoff[kMaxMR];
  for (int64_t ti = t0; ti < t1; ++ti) {
    const int64_t m0 = ti * mr, rows = std::min(mr, m - m0);
    for (int64_t i = 0; i < mr; ++i) {
      const int64_t mi = m0 + std::min(i, rows - 1), b = mi / per_image, r = mi % per_image;
      hh[i] = ph.h0 + (r / pw.nh) * g.stride + g.pad;  // h + pad: the output row is (h + pad - ki) / s
      ww[i] = pw.h0 + (r % pw.nh) * g.stride + g.pad;
      src[i] = i < rows ? y + b * g.o * p : nullptr;
      xoff[i] = b * g.c * hw + (hh[i] - g.pad) * g.w + (ww[i] - g.pad);
    }
    for (int64_t jp = 0; jp < ceil_div(g.c, nr); ++jp) {
      const int64_t c0 = jp * nr, cols = std::min(nr, g.c - c0);
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) tile[i * nr + j] = bias && j < cols ? bias[c0 + j] : T(0);
      for (int64_t tg = 0; tg < nt; tg += kTapGroup) {
        const int64_t ntg = std::min(kTapGroup, nt - tg);
        for (int64_t tt = 0; tt < ntg; ++tt) {
          const int64_t ki = ph.i0 + ((tg + tt) / pw.ni) * g.stride, kj = pw.i0 + ((tg + tt) % pw.ni) * g.stride;
          for (int64_t i = 0; i < mr; ++i) {
            const int64_t dh = hh[i] - ki, dw = ww[i] - kj;  // multiples of the stride by construction
            const bool ok = src[i] && dh >= 0 && dw >= 0 && dh / g.stride < g.ho && dw / g.stride < g.wo;
            ptr[tt * mr + i] = ok ? src[i] + (dh / g.stride) * g.wo + dw / g.stride : zero;
          }
        }
        tb.conv_micro(ntg, g.o, ptr, p, pb + (jp * k + tg * g.o) * nr, tile);
      }
      for (int64_t i = 0; i < rows; ++i) {
        T* xi = x + xoff[i] + c0 * hw;
        for (int64_t j = 0; j < cols; ++j) xi[j * hw] = tile[i * nr + j];
      }
    }
  }
}

// --- weight gradient -------------------------------------------------------------------------------------

// xt[b][q][ci] = x[b][ci][q] for nb images, then one zero pixel (the target of taps that fall outside).
template <class T> void to_channels_last(const T* x, T* xt, int64_t nb, int64_t c, int64_t hw) {
  parallel_for(nb, std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, c * hw)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t ci = 0; ci < c; ++ci) {
        const T* s = x + (b * c + ci) * hw;
        T* d = xt + b * hw * c + ci;
        for (int64_t q = 0; q < hw; ++q) d[q * c] = s[q];
      }
  });
  std::fill(xt + nb * hw * c, xt + (nb * hw + 1) * c, T(0));
}

// One task of the weight gradient's GEMM over the pixels of nb images: dwt[o, t*c + ci] (+)= sum over
// pixels of gy[b, o, q] * xt[b, pix(q, t), ci], for the NR-wide column panels [jp0, jp1).
template <class T>
void wgrad_panels(const Table<T>& tb, const ConvGeom& g, const T* xt, const T* gy, int64_t nb, bool first, T* dwt,
                  T* pa, T* pbuf, int64_t jp0, int64_t jp1) {
  const int64_t mr = tb.gemm_mr, nr = tb.gemm_nr, taps = g.kh * g.kw, ncols = taps * g.c, p = g.ho * g.wo,
                hw = g.h * g.w, kall = nb * p, mp = ceil_div(g.o, mr);
  const T* zero_pixel = xt + nb * hw * g.c;
  for (int64_t pc = 0; pc < kall; pc += kKC) {
    const int64_t kc = std::min(kKC, kall - pc);
    const T beta = first && pc == 0 ? T(0) : T(1);
    // A: pa[ip][pp*MR + i] = gy[b, ip*MR + i, q] for pixel pc + pp = b*p + q
    for (int64_t ip = 0; ip < mp; ++ip)
      for (int64_t i = 0; i < mr; ++i) {
        T* d = pa + ip * kc * mr + i;
        const int64_t oi = ip * mr + i;
        if (oi >= g.o) {
          for (int64_t pp = 0; pp < kc; ++pp) d[pp * mr] = T(0);
          continue;
        }
        for (int64_t pp = 0; pp < kc;) {
          const int64_t b = (pc + pp) / p, q = (pc + pp) % p, run = std::min(kc - pp, p - q);
          const T* s = gy + (b * g.o + oi) * p + q;
          for (int64_t r = 0; r < run; ++r) d[(pp + r) * mr] = s[r];
          pp += run;
        }
      }
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      // B: pbuf[pp*NR + j] = xt[b, pix(q, t), ci] for column jp*NR + j = t*c + ci (zero outside)
      for (int64_t pp = 0; pp < kc; ++pp) {
        const int64_t b = (pc + pp) / p, q = (pc + pp) % p;
        const int64_t ih0 = (q / g.wo) * g.stride - g.pad, iw0 = (q % g.wo) * g.stride - g.pad;
        T* d = pbuf + pp * nr;
        for (int64_t j = 0; j < nr;) {
          const int64_t col = jp * nr + j;
          if (col >= ncols) {
            std::fill(d + j, d + nr, T(0));
            break;
          }
          const int64_t t = col / g.c, ci = col % g.c, run = std::min(nr - j, g.c - ci);
          const int64_t ih = ih0 + t / g.kw, iw = iw0 + t % g.kw;
          const T* s = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? xt + (b * hw + ih * g.w + iw) * g.c + ci
                                                                  : zero_pixel;
          std::copy(s, s + run, d + j);
          j += run;
        }
      }
      const int64_t cols = std::min(nr, ncols - jp * nr);
      for (int64_t ip = 0; ip < mp; ++ip)
        tb.gemm_micro(kc, pa + ip * kc * mr, pbuf, dwt + ip * mr * ncols + jp * nr, ncols, T(1), beta,
                      std::min(mr, g.o - ip * mr), cols);
    }
  }
}

}  // namespace

int64_t conv_workspace(const ConvGeom& g, size_t itemsize) {
  const int64_t nr = max_nr(itemsize);
  return std::max({forward_work(g, nr), input_grad_work(g, nr), weight_grad_work(g, nr), direct::workspace(g, itemsize)}) +
         64 / int64_t(itemsize);
}

template <class T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, T* work) {
  const Table<T>& tb = current().get<T>();
  const int64_t nr = tb.gemm_nr, k = g.kh * g.kw * g.c, m = g.n * g.ho * g.wo;
  if (m == 0) return;
  if (direct::forward_fits(g, tb.lanes)) return direct::forward(tb, g, x, w, bias, y, aligned(work));
  T* pb = aligned(work);
  T* zero = pb + round16(ceil_div(g.o, nr) * k * nr);
  std::fill(zero, zero + (g.c - 1) * g.h * g.w + 1, T(0));
  pack_forward_weight(g, w, nr, pb);
  const int64_t tiles = ceil_div(m, tb.gemm_mr);
  parallel_for(tiles, grain_for(2 * tb.gemm_mr * k * g.o), [&](int64_t t0, int64_t t1) {
    forward_tiles(tb, g, x, bias, y, pb, zero, t0, t1);
  });
}

// Blocks of images run in parallel; inside a block, phase after phase, so the block's image stays in cache
// while every phase writes its pixels.
template <class T> void conv_input_grad(const ConvGeom& g, const T* y, const T* w, const T* bias, T* x, T* work) {
  const Table<T>& tb = current().get<T>();
  if (g.n == 0) return;
  if (direct::input_grad_fits(g, tb.lanes)) return direct::input_grad(tb, g, y, w, bias, x, aligned(work));
  const int64_t nr = tb.gemm_nr, hw = g.h * g.w, p = g.ho * g.wo, s = g.stride;
  T* pb = aligned(work);
  T* zero = pb + round16(ceil_div(g.c, nr) * g.kh * g.kw * g.o * nr) + s * s * 16;
  std::fill(zero, zero + (g.o - 1) * p + 1, T(0));
  auto phases = [&](auto&& f) {  // f(row phase, column phase, its packed weight), in a fixed order
    T* at = pb;
    for (int64_t rh = 0; rh < s; ++rh)
      for (int64_t rw = 0; rw < s; ++rw) {
        const Phase ph = phase_of(rh, g.kh, g.h, s, g.pad), pw = phase_of(rw, g.kw, g.w, s, g.pad);
        f(ph, pw, static_cast<const T*>(at));
        at += round16(ceil_div(g.c, nr) * ph.ni * pw.ni * g.o * nr);
      }
  };
  T* at = pb;
  for (int64_t rh = 0; rh < s; ++rh)
    for (int64_t rw = 0; rw < s; ++rw) {
      const Phase ph = phase_of(rh, g.kh, g.h, s, g.pad), pw = phase_of(rw, g.kw, g.w, s, g.pad);
      pack_phase_weight(g, w, ph, pw, nr, at);
      at += round16(ceil_div(g.c, nr) * ph.ni * pw.ni * g.o * nr);
    }
  const int64_t block = grad_images(g);
  parallel_for(ceil_div(g.n, block), 1, [&](int64_t k0, int64_t k1) {
    for (int64_t kb = k0; kb < k1; ++kb) {
      ConvGeom gb = g;
      gb.n = std::min(block, g.n - kb * block);
      const T* yb = y + kb * block * g.o * p;
      T* xb = x + kb * block * g.c * hw;
      phases([&](const Phase& ph, const Phase& pw, const T* wp) {
        if (ph.nh == 0 || pw.nh == 0) return;
        if (ph.ni == 0 || pw.ni == 0) {  // no tap reaches these pixels: bias only
          for (int64_t b = 0; b < gb.n; ++b)
            for (int64_t ci = 0; ci < g.c; ++ci)
              for (int64_t u = 0; u < ph.nh; ++u)
                for (int64_t v = 0; v < pw.nh; ++v)
                  xb[(b * g.c + ci) * hw + (ph.h0 + u * s) * g.w + pw.h0 + v * s] = bias ? bias[ci] : T(0);
          return;
        }
        phase_tiles(tb, gb, ph, pw, yb, bias, xb, wp, zero, 0, ceil_div(gb.n * ph.nh * pw.nh, tb.gemm_mr));
      });
    }
  });
}

template <class T> void conv_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* gw, T* work) {
  const Table<T>& tb = current().get<T>();
  if (g.n > 0 && direct::weight_grad_fits(g, tb.lanes)) return direct::weight_grad(tb, g, x, gy, gw, aligned(work));
  const int64_t nr = tb.gemm_nr, taps = g.kh * g.kw, ncols = taps * g.c, hw = g.h * g.w;
  T* dwt = aligned(work);
  T* xt = dwt + round16(g.o * ncols);
  T* slices = xt + round16((wgrad_images(g) * hw + 1) * g.c);
  std::fill(dwt, dwt + g.o * ncols, T(0));
  const int64_t chunk = wgrad_images(g), panels = ceil_div(ncols, nr);
  const int64_t tasks = std::min<int64_t>({num_threads(), panels,
                                           std::max<int64_t>(1, g.o * ncols * g.n * g.ho * g.wo / (int64_t(1) << 17))});
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    const int64_t nb = std::min(chunk, g.n - b0);
    to_channels_last(x + b0 * g.c * hw, xt, nb, g.c, hw);
    parallel_tasks(tasks, [&](int64_t task) {
      T* pa = slices + task * wgrad_slice(g, max_nr(sizeof(T)));
      T* pbuf = pa + round16(ceil_div(g.o, kMaxMR) * kMaxMR * kKC);
      wgrad_panels(tb, g, xt, gy + b0 * g.o * g.ho * g.wo, nb, b0 == 0, dwt, pa, pbuf, panels * task / tasks,
                   panels * (task + 1) / tasks);
    });
  }
  for (int64_t oi = 0; oi < g.o; ++oi)
    for (int64_t ci = 0; ci < g.c; ++ci)
      for (int64_t t = 0; t < taps; ++t) gw[(oi * g.c + ci) * taps + t] = dwt[oi * ncols + t * g.c + ci];
}

template void conv_forward<float>(const ConvGeom&, const float*, const float*, const float*, float*, float*);
template void conv_forward<double>(const ConvGeom&, const double*, const double*, const double*, double*, double*);
template void conv_input_grad<float>(const ConvGeom&, const float*, const float*, const float*, float*, float*);
template void conv_input_grad<double>(const ConvGeom&, const double*, const double*, const double*, double*,
                                      double*);
template void conv_weight_grad<float>(const ConvGeom&, const float*, const float*, float*, float*);
template void conv_weight_grad<double>(const ConvGeom&, const double*, const double*, double*, double*);

}  // namespace elbo::kernels
