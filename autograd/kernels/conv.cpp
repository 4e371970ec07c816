// Convolution on the GEMM through im2col (Chellapilla, Puri & Simard 2006, "High performance
// convolutional neural networks for document processing"). For a chunk of the batch, with W the weight
// read as [o, c*kh*kw] and y' the output chunk [nb, o, ho*wo] with its first two dims swapped:
//   forward          y' = W col(x)
//   input gradient   x  = col2im(W^T y')      (the adjoint: conv_transpose2d's forward)
//   weight gradient  dW += gy' col(x)^T       (chunks accumulate in order)
// The chunk is sized so col (c*kh*kw rows, nb*ho*wo columns) stays near 1 MiB: big enough for an
// efficient GEMM, small enough that im2col's output is still in cache when the GEMM packs it.
#include <algorithm>

#include "kernels.h"
#include "thread_pool.h"

namespace elbo::kernels {
namespace {

// Output positions o in [0, out) whose input pixel o*stride - pad + tap lies in [0, size): [lo, hi).
struct Range {
  int64_t lo, hi;
};
Range valid(int64_t out, int64_t size, int64_t stride, int64_t pad, int64_t tap) {
  const int64_t first = pad - tap;  // o*stride >= first
  const int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const int64_t last = size - 1 + pad - tap;  // o*stride <= last
  const int64_t hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  return {std::min(lo, hi), hi};
}

int64_t col_rows(const ConvGeom& g) { return g.c * g.kh * g.kw; }
int64_t chunk_of(const ConvGeom& g, size_t itemsize) {
  const int64_t per_image = std::max<int64_t>(1, col_rows(g) * g.ho * g.wo * int64_t(itemsize));
  return std::clamp<int64_t>((int64_t(1) << 20) / per_image, 1, std::max<int64_t>(g.n, 1));
}
// Enough pixels per thread to pay for waking it.
int64_t grain(const ConvGeom& g) {
  return std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(1, col_rows(g) * g.ho * g.wo));
}

// col [c*kh*kw, n*ho*wo] from x [n, c, h, w] (g.n images). Loops run channel, tap, image: a tap's
// valid output ranges are computed once for all images, whose channel planes stay in L1 across taps.
// Inside the ranges the copies run without bounds checks; only the edges are zero-filled.
template <class T> void im2col(const ConvGeom& g, const T* x, T* col) {
  const int64_t p = g.ho * g.wo, ld = g.n * p;
  parallel_for(g.n, grain(g), [&](int64_t b0, int64_t b1) {
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < g.kh; ++i) {
        const Range rh = valid(g.ho, g.h, g.stride, g.pad, i);
        for (int64_t j = 0; j < g.kw; ++j) {
          const Range rw = valid(g.wo, g.w, g.stride, g.pad, j);
          for (int64_t b = b0; b < b1; ++b) {
            const T* img = x + (b * g.c + c) * g.h * g.w;
            T* dst = col + ((c * g.kh + i) * g.kw + j) * ld + b * p;
            std::fill(dst, dst + rh.lo * g.wo, T(0));
            for (int64_t oh = rh.lo; oh < rh.hi; ++oh) {
              T* d = dst + oh * g.wo;
              const int64_t base = (oh * g.stride - g.pad + i) * g.w - g.pad + j;  // pixel of ow = 0
              std::fill(d, d + rw.lo, T(0));
              if (g.stride == 1)
                std::copy(img + base + rw.lo, img + base + rw.hi, d + rw.lo);
              else
                for (int64_t ow = rw.lo; ow < rw.hi; ++ow) d[ow] = img[base + ow * g.stride];
              std::fill(d + rw.hi, d + g.wo, T(0));
            }
            std::fill(dst + rh.hi * g.wo, dst + p, T(0));
          }
        }
      }
  });
}

// x = bias[c] (or 0), then every col entry added back onto its pixel. Image b is one thread's and each
// pixel sums its taps in the same order for any split.
template <class T> void col2im(const ConvGeom& g, const T* col, T* x, const T* bias) {
  const int64_t p = g.ho * g.wo, ld = g.n * p;
  parallel_for(g.n, grain(g), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      for (int64_t c = 0; c < g.c; ++c) {
        T* img = x + (b * g.c + c) * g.h * g.w;
        std::fill(img, img + g.h * g.w, bias ? bias[c] : T(0));
      }
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t i = 0; i < g.kh; ++i) {
        const Range rh = valid(g.ho, g.h, g.stride, g.pad, i);
        for (int64_t j = 0; j < g.kw; ++j) {
          const Range rw = valid(g.wo, g.w, g.stride, g.pad, j);
          for (int64_t b = b0; b < b1; ++b) {
            T* img = x + (b * g.c + c) * g.h * g.w;
            const T* src = col + ((c * g.kh + i) * g.kw + j) * ld + b * p;
            for (int64_t oh = rh.lo; oh < rh.hi; ++oh) {
              const T* s = src + oh * g.wo;
              const int64_t base = (oh * g.stride - g.pad + i) * g.w - g.pad + j;
              for (int64_t ow = rw.lo; ow < rw.hi; ++ow) img[base + ow * g.stride] += s[ow];
            }
          }
        }
      }
  });
}

// y[j, i, :] = x[i, j, :] + bias[i] (bias may be null): [a, b, p] -> [b, a, p].
template <class T> void swap_outer(const T* x, T* y, int64_t a, int64_t b, int64_t p, const T* bias) {
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j) {
      const T* s = x + (i * b + j) * p;
      T* d = y + (j * a + i) * p;
      if (bias)
        for (int64_t k = 0; k < p; ++k) d[k] = s[k] + bias[i];
      else
        std::copy(s, s + p, d);
    }
}

// Calls f(sub-geometry, first image) for each chunk of the batch, in order.
template <class T, class F> void for_chunks(const ConvGeom& g, F&& f) {
  const int64_t chunk = chunk_of(g, sizeof(T));
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    ConvGeom gb = g;
    gb.n = std::min(chunk, g.n - b0);
    f(gb, b0);
  }
}

}  // namespace

int64_t conv_workspace(const ConvGeom& g, size_t itemsize) {
  return chunk_of(g, itemsize) * g.ho * g.wo * (col_rows(g) + g.o);
}

template <class T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, T* work) {
  const int64_t ck = col_rows(g), p = g.ho * g.wo;
  for_chunks<T>(g, [&](const ConvGeom& gb, int64_t b0) {
    const int64_t np = gb.n * p;
    T *col = work, *yt = work + ck * np;
    im2col(gb, x + b0 * g.c * g.h * g.w, col);
    gemm<T>(false, false, g.o, np, ck, T(1), w, ck, col, np, T(0), yt, np);
    swap_outer(yt, y + b0 * g.o * p, g.o, gb.n, p, bias);
  });
}

template <class T> void conv_input_grad(const ConvGeom& g, const T* y, const T* w, const T* bias, T* x, T* work) {
  const int64_t ck = col_rows(g), p = g.ho * g.wo;
  for_chunks<T>(g, [&](const ConvGeom& gb, int64_t b0) {
    const int64_t np = gb.n * p;
    T *col = work, *yt = work + ck * np;
    swap_outer(y + b0 * g.o * p, yt, gb.n, g.o, p, static_cast<const T*>(nullptr));
    gemm<T>(true, false, ck, np, g.o, T(1), w, ck, yt, np, T(0), col, np);
    col2im(gb, col, x + b0 * g.c * g.h * g.w, bias);
  });
}

template <class T> void conv_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* gw, T* work) {
  const int64_t ck = col_rows(g), p = g.ho * g.wo;
  if (g.n == 0) std::fill(gw, gw + g.o * ck, T(0));
  for_chunks<T>(g, [&](const ConvGeom& gb, int64_t b0) {
    const int64_t np = gb.n * p;
    T *col = work, *yt = work + ck * np;
    im2col(gb, x + b0 * g.c * g.h * g.w, col);
    swap_outer(gy + b0 * g.o * p, yt, gb.n, g.o, p, static_cast<const T*>(nullptr));
    gemm<T>(false, true, g.o, ck, np, T(1), yt, np, col, np, b0 == 0 ? T(0) : T(1), gw, ck);
  });
}

template void conv_forward<float>(const ConvGeom&, const float*, const float*, const float*, float*, float*);
template void conv_forward<double>(const ConvGeom&, const double*, const double*, const double*, double*, double*);
template void conv_input_grad<float>(const ConvGeom&, const float*, const float*, const float*, float*, float*);
template void conv_input_grad<double>(const ConvGeom&, const double*, const double*, const double*, double*,
                                      double*);
template void conv_weight_grad<float>(const ConvGeom&, const float*, const float*, float*, float*);
template void conv_weight_grad<double>(const ConvGeom&, const double*, const double*, double*, double*);

}  // namespace elbo::kernels
