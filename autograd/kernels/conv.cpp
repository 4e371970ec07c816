// Convolution kernels, NCHW. For a geometry g (conv2d: image x [n, c, h, w], weight [o, c, kh, kw], output
// y [n, o, ho, wo]) and pix(p, t) the image pixel that output pixel p reads through tap t:
//   forward       y[b, o, p]     = bias[o] + sum over (c, t) of w[o, c, t] x[b, c, pix(p, t)]
//   input grad    x[b, c, q]     = bias[c] + sum over (o, t, p with pix(p, t) = q) of w[o, c, t] y[b, o, p]
//   weight grad   gw[o, c, t]    = sum over (b, p) of gy[b, o, p] x[b, c, pix(p, t)]
// Forward and input gradient run the indirect convolution algorithm (Dukhan 2019, "The Indirect
// Convolution Algorithm"): GEMM rows are pixels, and the micro-kernel reads each row's receptive field
// through one pointer per tap straight from the NCHW image, so no im2col buffer is written or packed.
// Tiles land channels-last in a per-thread buffer for a block of images, and one in-cache transpose per
// block writes them NCHW with the bias (scattering each tile straight into NCHW stalls on stores).
// The input gradient (the adjoint, conv_transpose2d's forward) is split by phase, the sub-pixel view of a
// strided transposed convolution (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
// Using an Efficient Sub-Pixel Convolutional Neural Network"): image pixels with equal (h + pad) mod
// stride and (w + pad) mod stride gather from the same taps, so each phase is one indirect convolution
// that writes every pixel once, with no col2im scatter-add. The weight gradient is a GEMM over the batch's
// pixels; the image is first transposed to channels-last, so each packed row is a contiguous run.
// Threads split blocks of images (forward, input gradient) or weight columns (weight gradient): every
// output element sees the same arithmetic for any thread count. Few channels go to conv_direct.cpp.
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

// Images per block of the forward pass and input gradient: the block's channels-last result (about
// 64 KiB of f32 per thread) stays in cache for the transpose; at least eight blocks per thread, claimed
// one at a time, so a descheduled thread holds up little.
int64_t block_images(const ConvGeom& g, int64_t per_image) {
  const int64_t fit = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, per_image));
  return std::clamp<int64_t>(std::min(fit, ceil_div(g.n, 8 * num_threads())), 1, std::max<int64_t>(g.n, 1));
}
int64_t fwd_block(const ConvGeom& g, int64_t nr) { return block_images(g, g.ho * g.wo * ceil_div(g.o, nr) * nr); }
int64_t adj_block(const ConvGeom& g, int64_t nr) { return block_images(g, g.h * g.w * ceil_div(g.c, nr) * nr); }
int64_t wgrad_images(const ConvGeom& g) {  // images per channels-last chunk: about 256 KiB of f32
  return std::clamp<int64_t>((int64_t(1) << 16) / std::max<int64_t>(1, g.c * g.h * g.w), 1, std::max<int64_t>(g.n, 1));
}

// Each pass's scratch areas: offsets (elements from the 64-byte aligned start of the workspace) and the
// total, built once from the geometry. Areas are sized for the widest tile of any instruction set
// (max_nr), so conv_workspace can size the buffer before a kernel runs and every table's tiles fit; each
// area starts 64-byte aligned.
class Carve {
 public:
  int64_t take(int64_t elements) {
    const int64_t at = size_;
    size_ += round16(elements);
    return at;
  }
  int64_t size() const { return size_; }

 private:
  int64_t size_ = 0;
};

// forward: the packed weight, a zero image (the target of taps outside the image), then per thread a
// block's channels-last result
struct ForwardLayout {
  int64_t weight, zero, slices, slice, size;
  ForwardLayout(const ConvGeom& g, size_t itemsize) {
    const int64_t nr = max_nr(itemsize);
    block = fwd_block(g, nr);
    Carve c;
    weight = c.take(ceil_div(g.o, nr) * g.kh * g.kw * g.c * nr);
    zero = c.take((g.c - 1) * g.h * g.w + 1);
    slice = round16((block * g.ho * g.wo + kMaxMR) * ceil_div(g.o, nr) * nr);
    slices = c.take(num_threads() * slice);
    size = c.size();
  }
  int64_t block;  // images per block
};

// input gradient: the row and column phase tables, each phase's packed weight, a zero output image, then
// per thread the block's channels-last rows of every phase (rows) and one phase transposed (planes)
struct InputGradLayout {
  int64_t phases, weight, zero, slices, slice, planes, size;
  int64_t block;  // images per block
  InputGradLayout(const ConvGeom& g, size_t itemsize) {
    const int64_t nr = max_nr(itemsize), s = g.stride, panels = ceil_div(g.c, nr) * nr;
    block = adj_block(g, nr);
    Carve c;
    phases = c.take(2 * s * int64_t((sizeof(Phase) + itemsize - 1) / itemsize));
    int64_t weights = 0;
    for (int64_t rh = 0; rh < s; ++rh)
      for (int64_t rw = 0; rw < s; ++rw)
        weights += phase_weight_size(g, phase_of(rh, g.kh, g.h, s, g.pad), phase_of(rw, g.kw, g.w, s, g.pad), nr);
    weight = c.take(weights);
    zero = c.take((g.o - 1) * g.ho * g.wo + 1);
    planes = round16((block * g.h * g.w + s * s * kMaxMR) * panels);  // within a slice: after the rows
    slice = planes + round16((block * g.h * g.w + kMaxMR) * g.c);
    slices = c.take(num_threads() * slice);
    size = c.size();
  }
  // One phase's packed weight, 64-byte aligned: its taps' rows of every output channel in NR panels.
  static int64_t phase_weight_size(const ConvGeom& g, const Phase& ph, const Phase& pw, int64_t nr) {
    return round16(ceil_div(g.c, nr) * ph.ni * pw.ni * g.o * nr);
  }
};

// weight gradient: the result channels-last [o, taps*c], a chunk of images channels-last (and a zero
// pixel), then per task the packed A (gy's rows) and B (pixels' runs) of the GEMM
struct WeightGradLayout {
  int64_t dwt, xt, slices, slice, packed_b, size;
  WeightGradLayout(const ConvGeom& g, size_t itemsize) {
    const int64_t nr = max_nr(itemsize);
    Carve c;
    dwt = c.take(g.o * g.kh * g.kw * g.c);
    xt = c.take((wgrad_images(g) * g.h * g.w + 1) * g.c);
    packed_b = round16(ceil_div(g.o, kMaxMR) * kMaxMR * kKC);  // within a slice: after A
    slice = packed_b + round16(nr * kKC);
    slices = c.take(num_threads() * slice);
    size = c.size();
  }
};

// Runs f(thread, block) for every block in [0, blocks), blocks claimed one at a time; thread indexes the
// caller's per-thread scratch.
template <class F> void for_blocks(int64_t blocks, F&& f) {
  parallel_tasks(blocks, [&](int64_t kb, int thread) { f(thread, kb); });
}

// Walks pixels (b, row, col) of a [n, rows, cols] grid in order, without divisions.
struct Cursor {
  int64_t b = 0, r = 0, c = 0;
  void next(int64_t rows, int64_t cols) {
    if (++c == cols) {
      c = 0;
      if (++r == rows) r = 0, ++b;
    }
  }
};

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

// One block of g.n images: yt[pixel][o] (row stride opad) by tiles, then y = yt^T + bias per image.
template <class T>
void forward_block(const Table<T>& tb, const ConvGeom& g, const T* x, const T* bias, T* y, const T* pb,
                   const T* zero, T* yt) {
  const int64_t mr = tb.conv_mr, nr = tb.gemm_nr, taps = g.kh * g.kw, k = taps * g.c, p = g.ho * g.wo,
                m = g.n * p, hw = g.h * g.w, panels = ceil_div(g.o, nr), opad = panels * nr;
  const T* ptr[kTapGroup * kMaxMR];
  const T* img[kMaxMR];
  int64_t ih0[kMaxMR], iw0[kMaxMR];
  const int64_t group = kTapGroup;
  // One pointer table per tile and tap group serves every panel of output channels.
  for (int64_t tg = 0; tg < taps; tg += group) {
    const int64_t nt = std::min(group, taps - tg);
    int64_t tki[kTapGroup], tkj[kTapGroup];  // the group's taps, hoisted out of the tile loop
    for (int64_t tt = 0; tt < nt; ++tt) tki[tt] = (tg + tt) / g.kw, tkj[tt] = (tg + tt) % g.kw;
    Cursor at;
    for (int64_t m0 = 0; m0 < m; m0 += mr) {
      for (int64_t i = 0; i < mr; ++i) {
        img[i] = m0 + i < m ? x + at.b * g.c * hw : nullptr;
        ih0[i] = at.r * g.stride - g.pad;
        iw0[i] = at.c * g.stride - g.pad;
        at.next(g.ho, g.wo);
      }
      for (int64_t tt = 0; tt < nt; ++tt) {
        const int64_t ki = tki[tt], kj = tkj[tt];
        for (int64_t i = 0; i < mr; ++i) {
          const int64_t ih = ih0[i] + ki, iw = iw0[i] + kj;
          ptr[tt * mr + i] =
              img[i] && ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? img[i] + ih * g.w + iw : zero;
        }
      }
      for (int64_t jp = 0; jp < panels; ++jp)
        tb.conv_micro(nt, g.c, ptr, hw, pb + (jp * k + tg * g.c) * nr, yt + m0 * opad + jp * nr, opad, tg > 0);
    }
  }
  for (int64_t b = 0; b < g.n; ++b) {
    tb.transpose(yt + b * p * opad, opad, y + b * g.o * p, p, p, g.o);
    if (bias)
      for (int64_t o = 0; o < g.o; ++o) {
        T* d = y + (b * g.o + o) * p;
        for (int64_t q = 0; q < p; ++q) d[q] += bias[o];
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

// One phase of a block of g.n images: xt[pixel of the phase][c] (row stride cpad) by tiles.
template <class T>
void phase_block(const Table<T>& tb, const ConvGeom& g, const Phase& ph, const Phase& pw, const T* y, const T* pb,
                 const T* zero, T* xt) {
  const int64_t mr = tb.conv_mr, nr = tb.gemm_nr, nt = ph.ni * pw.ni, k = nt * g.o, p = g.ho * g.wo,
                m = g.n * ph.nh * pw.nh, panels = ceil_div(g.c, nr), cpad = panels * nr;
  const T* ptr[kTapGroup * kMaxMR];
  const T* src[kMaxMR];
  int64_t uu[kMaxMR], vv[kMaxMR];
  const int64_t group = kTapGroup;
  for (int64_t jp = 0; jp < panels; ++jp)
    for (int64_t tg = 0; tg < nt; tg += group) {
      const int64_t ntg = std::min(group, nt - tg);
      // tap (ki, kj) of pixel (u, v) reads output (u + dh, v + dw): h + pad - ki = (u + dh) * s exactly;
      // hoisted out of the tile loop
      int64_t tdh[kTapGroup], tdw[kTapGroup];
      for (int64_t tt = 0; tt < ntg; ++tt) {
        const int64_t ki = ph.i0 + ((tg + tt) / pw.ni) * g.stride, kj = pw.i0 + ((tg + tt) % pw.ni) * g.stride;
        tdh[tt] = (ph.h0 + g.pad - ki) / g.stride;
        tdw[tt] = (pw.h0 + g.pad - kj) / g.stride;
      }
      Cursor at;
      for (int64_t m0 = 0; m0 < m; m0 += mr) {
        for (int64_t i = 0; i < mr; ++i) {
          src[i] = m0 + i < m ? y + at.b * g.o * p : nullptr;
          uu[i] = at.r;  // image pixel (h0 + u*s, w0 + v*s)
          vv[i] = at.c;
          at.next(ph.nh, pw.nh);
        }
        for (int64_t tt = 0; tt < ntg; ++tt) {
          const int64_t dh = tdh[tt], dw = tdw[tt];
          for (int64_t i = 0; i < mr; ++i) {
            const int64_t oh = uu[i] + dh, ow = vv[i] + dw;
            const bool ok = src[i] && oh >= 0 && ow >= 0 && oh < g.ho && ow < g.wo;
            ptr[tt * mr + i] = ok ? src[i] + oh * g.wo + ow : zero;
          }
        }
        tb.conv_micro(ntg, g.o, ptr, p, pb + (jp * k + tg * g.o) * nr, xt + m0 * cpad + jp * nr, cpad, tg > 0);
      }
    }
}

// --- weight gradient -------------------------------------------------------------------------------------

// xt[b][q][ci] = x[b][ci][q] for nb images, then one zero pixel (the target of taps that fall outside).
template <class T> void to_channels_last(const Table<T>& tb, const T* x, T* xt, int64_t nb, int64_t c, int64_t hw) {
  parallel_for(nb, std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, c * hw)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) tb.transpose(x + b * c * hw, hw, xt + b * hw * c, c, c, hw);
  });
  std::fill(xt + nb * hw * c, xt + (nb * hw + 1) * c, T(0));
}

// One task of the weight gradient's GEMM over the pixels of nb images: dwt[o, t*c + ci] (+)= sum over
// pixels of gy[b, o, q] * xt[b, pix(q, t), ci], for the NR-wide column panels [jp0, jp1).
template <class T>
void wgrad_panels(const Table<T>& tb, const ConvGeom& g, const T* xt, const T* gy, int64_t nb, bool first, T* dwt,
                  T* pa, T* pbuf, int64_t jp0, int64_t jp1) {
  const int64_t mr = tb.conv_mr, nr = tb.gemm_nr, taps = g.kh * g.kw, ncols = taps * g.c, p = g.ho * g.wo,
                hw = g.h * g.w, kall = nb * p, mp = ceil_div(g.o, mr);
  const T* zero_pixel = xt + nb * hw * g.c;
  for (int64_t pc = 0; pc < kall; pc += kKC) {
    const int64_t kc = std::min(kKC, kall - pc);
    const T beta = first && pc == 0 ? T(0) : T(1);
    // A: pa[ip][pp*MR + i] = gy[b, ip*MR + i, q] for pixel pc + pp = b*p + q, one image's run of pixels
    // at a time (rows of gy, packed as a GEMM's A rows)
    for (int64_t ip = 0; ip < mp; ++ip)
      for (int64_t pp = 0; pp < kc;) {
        const int64_t b = (pc + pp) / p, q = (pc + pp) % p, run = std::min(kc - pp, p - q);
        tb.conv_pack_a(false, gy + (b * g.o + ip * mr) * p + q, p, std::min(mr, g.o - ip * mr), run,
                       pa + ip * kc * mr + pp * mr);
        pp += run;
      }
    // The block's pixels: where each starts reading (tap (0, 0), maybe outside) in xt.
    int64_t base[kKC], ih0[kKC], iw0[kKC];
    for (int64_t pp = 0, b = pc / p, q = pc % p; pp < kc; ++pp) {
      ih0[pp] = (q / g.wo) * g.stride - g.pad;
      iw0[pp] = (q % g.wo) * g.stride - g.pad;
      base[pp] = b * hw + ih0[pp] * g.w + iw0[pp];
      if (++q == p) q = 0, ++b;
    }
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t cols = std::min(nr, ncols - jp * nr);
      if (g.c % nr == 0) {  // the panel is one tap's run of nr channels: read B's rows in place
        const int64_t t = jp * nr / g.c, c0 = jp * nr % g.c, ki = t / g.kw, kj = t % g.kw;
        const T* rows[kKC];
        for (int64_t pp = 0; pp < kc; ++pp) {
          const int64_t ih = ih0[pp] + ki, iw = iw0[pp] + kj;
          rows[pp] = (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? xt + (base[pp] + ki * g.w + kj) * g.c : zero_pixel) + c0;
        }
        for (int64_t ip = 0; ip < mp; ++ip)
          tb.gemm_micro_rows(kc, pa + ip * kc * mr, rows, dwt + ip * mr * ncols + jp * nr, ncols, T(1), beta,
                             std::min(mr, g.o - ip * mr), cols, nullptr);
        continue;
      }
      // B: pbuf[pp*NR + j] = xt[b, pix(q, t), ci] for column jp*NR + j = t*c + ci (zero outside)
      for (int64_t pp = 0; pp < kc; ++pp) {
        T* d = pbuf + pp * nr;
        for (int64_t j = 0; j < nr;) {
          const int64_t col = jp * nr + j;
          if (col >= ncols) {
            for (; j < nr; ++j) d[j] = T(0);
            break;
          }
          const int64_t t = col / g.c, ci = col % g.c, run = std::min(nr - j, g.c - ci);
          const int64_t ki = t / g.kw, kj = t % g.kw, ih = ih0[pp] + ki, iw = iw0[pp] + kj;
          const T* src = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? xt + (base[pp] + ki * g.w + kj) * g.c + ci
                                                                    : zero_pixel;
          for (int64_t r = 0; r < run; ++r) d[j + r] = src[r];
          j += run;
        }
      }
      const T* prow[kKC];  // the packed rows, for the conv-tile kernel (A is in conv_mr-row panels)
      for (int64_t pp = 0; pp < kc; ++pp) prow[pp] = pbuf + pp * nr;
      for (int64_t ip = 0; ip < mp; ++ip)
        tb.gemm_micro_rows(kc, pa + ip * kc * mr, prow, dwt + ip * mr * ncols + jp * nr, ncols, T(1), beta,
                           std::min(mr, g.o - ip * mr), cols, nullptr);
    }
  }
}

}  // namespace

int64_t conv_workspace(const ConvGeom& g, size_t itemsize) {
  return std::max({ForwardLayout(g, itemsize).size, InputGradLayout(g, itemsize).size,
                   WeightGradLayout(g, itemsize).size, direct::workspace(g, itemsize)}) +
         64 / int64_t(itemsize);
}

template <class T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, T* work) {
  const Table<T>& tb = current().get<T>();
  const int64_t nr = tb.gemm_nr, hw = g.h * g.w, p = g.ho * g.wo;
  if (g.n * p == 0) return;
  if (direct::forward_fits(g, tb.lanes)) return direct::forward(tb, g, x, w, bias, y, aligned(work));
  const ForwardLayout at(g, sizeof(T));
  T* pb = aligned(work) + at.weight;
  T* zero = aligned(work) + at.zero;
  std::fill(zero, zero + (g.c - 1) * hw + 1, T(0));
  pack_forward_weight(g, w, nr, pb);
  const int64_t block = at.block, blocks = ceil_div(g.n, block);
  for_blocks(blocks, [&](int thread, int64_t kb) {
    T* yt = aligned(work) + at.slices + thread * at.slice;
    ConvGeom gb = g;
    gb.n = std::min(block, g.n - kb * block);
    forward_block(tb, gb, x + kb * block * g.c * hw, bias, y + kb * block * g.o * p, pb, zero, yt);
  });
}

namespace {

// The input gradient's steps, for one geometry: the phase tables and packed weights once (pack), then per
// block of images every phase's rows channels-last (phases), then each phase's rows transposed and
// interleaved into the NCHW image with the bias (interleave).
template <class T> struct InputGrad {
  const Table<T>& tb;
  const ConvGeom& g;
  const InputGradLayout at;
  T* base;  // the workspace, 64-byte aligned
  const int64_t s = g.stride, nr = tb.gemm_nr, cpad = ceil_div(g.c, tb.gemm_nr) * tb.gemm_nr;

  InputGrad(const Table<T>& t, const ConvGeom& geom, T* work)
      : tb(t), g(geom), at(geom, sizeof(T)), base(aligned(work)) {}
  Phase* phases() const { return reinterpret_cast<Phase*>(base + at.phases); }  // rows [0, s), columns [s, 2s)
  T* zero() const { return base + at.zero; }

  // The phase tables, each (rh, rw) phase's packed weight in turn, the zero image.
  void pack(const T* w) const {
    Phase* phase = phases();
    for (int64_t r = 0; r < s; ++r) {
      phase[r] = phase_of(r, g.kh, g.h, s, g.pad);
      phase[s + r] = phase_of(r, g.kw, g.w, s, g.pad);
    }
    T* pb = base + at.weight;
    for (int64_t rh = 0; rh < s; ++rh)
      for (int64_t rw = 0; rw < s; ++rw) {
        pack_phase_weight(g, w, phase[rh], phase[s + rw], nr, pb);
        pb += InputGradLayout::phase_weight_size(g, phase[rh], phase[s + rw], nr);
      }
    std::fill(zero(), zero() + (g.o - 1) * g.ho * g.wo + 1, T(0));
  }

  // The block gb of images (from y): each phase's pixels, channels-last rows of cpad, one phase after another.
  void phases_of(const ConvGeom& gb, const T* y, T* rows) const {
    const Phase* phase = phases();
    const T* wp = base + at.weight;
    for (int64_t rh = 0; rh < s; ++rh)
      for (int64_t rw = 0; rw < s; ++rw) {
        const Phase &ph = phase[rh], &pw = phase[s + rw];
        if (ph.ni > 0 && pw.ni > 0 && ph.nh > 0 && pw.nh > 0) phase_block(tb, gb, ph, pw, y, wp, zero(), rows);
        wp += InputGradLayout::phase_weight_size(g, ph, pw, nr);
        rows += ceil_div(gb.n * ph.nh * pw.nh, tb.conv_mr) * tb.conv_mr * cpad;
      }
  }

  // Each phase's rows transposed to [c][pixel] in planes, then written to its pixels of x (the block's
  // images), plus the bias, while the plane is in L1; pixels no tap reaches get the bias alone.
  void interleave(const ConvGeom& gb, const T* rows, T* planes, const T* bias, T* x) const {
    const Phase* phase = phases();
    const int64_t hw = g.h * g.w;
    for (int64_t rh = 0; rh < s; ++rh)
      for (int64_t rw = 0; rw < s; ++rw) {
        const Phase &ph = phase[rh], &pw = phase[s + rw];
        const int64_t n = gb.n * ph.nh * pw.nh;
        const bool taps = ph.ni > 0 && pw.ni > 0;
        if (n == 0) continue;
        if (taps) tb.transpose(rows, cpad, planes, n, n, g.c);
        for (int64_t b = 0; b < gb.n; ++b)
          for (int64_t ci = 0; ci < g.c; ++ci) {
            T* plane = x + (b * g.c + ci) * hw;
            const T add = bias ? bias[ci] : T(0);
            for (int64_t u = 0; u < ph.nh; ++u) {
              T* d = plane + (ph.h0 + u * s) * g.w + pw.h0;
              const T* r = planes + ci * n + (b * ph.nh + u) * pw.nh;
              if (taps)
                for (int64_t v = 0; v < pw.nh; ++v) d[v * s] = r[v] + add;
              else
                for (int64_t v = 0; v < pw.nh; ++v) d[v * s] = add;
            }
          }
        rows += ceil_div(n, tb.conv_mr) * tb.conv_mr * cpad;
      }
  }
};

}  // namespace

// Blocks of images run in parallel, each through the phases and the interleave (InputGrad above).
template <class T> void conv_input_grad(const ConvGeom& g, const T* y, const T* w, const T* bias, T* x, T* work) {
  const Table<T>& tb = current().get<T>();
  if (g.n == 0) return;
  if (direct::input_grad_fits(g, tb.lanes)) return direct::input_grad(tb, g, y, w, bias, x, aligned(work));
  const InputGrad<T> pass(tb, g, work);
  pass.pack(w);
  const int64_t block = pass.at.block, blocks = ceil_div(g.n, block), hw = g.h * g.w, p = g.ho * g.wo;
  for_blocks(blocks, [&](int thread, int64_t kb) {
    T* rows = pass.base + pass.at.slices + thread * pass.at.slice;
    ConvGeom gb = g;
    gb.n = std::min(block, g.n - kb * block);
    pass.phases_of(gb, y + kb * block * g.o * p, rows);
    pass.interleave(gb, rows, rows + pass.at.planes, bias, x + kb * block * g.c * hw);
  });
}

template <class T> void conv_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* gw, T* work) {
  const Table<T>& tb = current().get<T>();
  if (g.n > 0 && direct::weight_grad_fits(g, tb.lanes)) return direct::weight_grad(tb, g, x, gy, gw, aligned(work));
  const int64_t nr = tb.gemm_nr, taps = g.kh * g.kw, ncols = taps * g.c, hw = g.h * g.w;
  const WeightGradLayout at(g, sizeof(T));
  T* dwt = aligned(work) + at.dwt;
  T* xt = aligned(work) + at.xt;
  std::fill(dwt, dwt + g.o * ncols, T(0));
  const int64_t chunk = wgrad_images(g), panels = ceil_div(ncols, nr);
  const int64_t tasks = std::min<int64_t>({num_threads(), panels,
                                           std::max<int64_t>(1, g.o * ncols * g.n * g.ho * g.wo / (int64_t(1) << 17))});
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    const int64_t nb = std::min(chunk, g.n - b0);
    to_channels_last(tb, x + b0 * g.c * hw, xt, nb, g.c, hw);
    parallel_tasks(tasks, [&](int64_t task) {
      T* pa = aligned(work) + at.slices + task * at.slice;
      T* pbuf = pa + at.packed_b;
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
