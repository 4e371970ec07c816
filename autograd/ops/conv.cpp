// Convolutions, NCHW as torch.nn.functional. The arithmetic is three kernels (kernels/conv.cpp: indirect
// convolution on the GEMM micro-kernel): conv2d's forward, its input gradient (the adjoint) and its weight
// gradient.
// conv_transpose2d is conv2d's input gradient with the same weight, so it is built from the same three
// with the roles of image and output exchanged: its forward is the adjoint, its input gradient conv2d's
// forward, and its weight gradient conv2d's with the image and output swapped.
#include <array>

#include "autograd/ops/common.h"

namespace elbo {
namespace {

using kernels::ConvGeom;

std::array<int64_t, 4> x_shape(const ConvGeom& g) { return {g.n, g.c, g.h, g.w}; }
std::array<int64_t, 4> shape4(const Tensor& t) { return {t.size(0), t.size(1), t.size(2), t.size(3)}; }

// The three kernels on fresh tensors, no recording. g describes conv2d: image [n, c, h, w], weight
// [o, c, kh, kw] (conv_transpose2d's [in, out, kh, kw] is the same array), output [n, o, ho, wo].
enum class Pass { forward, input_grad, weight_grad };
Tensor run(Pass pass, const ConvGeom& g, const Tensor& a, const Tensor& b, const Tensor& bias, IntList out) {
  Tensor y = empty(out, a.dtype());
  const Tensor work = empty({kernels::conv_workspace(g, itemsize(a.dtype()))}, a.dtype());
  with_float(a.dtype(), "conv", [&](auto t) {
    using T = decltype(t);
    const T *pa = a.data<const T>(), *pb = b.data<const T>(), *pbias = bias.defined() ? bias.data<const T>() : nullptr;
    if (pass == Pass::forward)  // a = image, b = weight
      kernels::conv_forward<T>(g, pa, pb, pbias, y.data<T>(), work.data<T>());
    else if (pass == Pass::input_grad)  // a = output side, b = weight
      kernels::conv_input_grad<T>(g, pa, pb, pbias, y.data<T>(), work.data<T>());
    else  // a = image, b = output side
      kernels::conv_weight_grad<T>(g, pa, pb, y.data<T>(), work.data<T>());
  });
  return y;
}

// Checks both ops share. ic / oc: which weight dim holds the input / output channels.
void check_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding,
                int ic, int oc, const char* layout) {
  ELBO_CHECK_SHAPE(x.dim() == 4, "{}: input must be 4-D [N, C, H, W], got {}", op, x.shape());
  ELBO_CHECK_SHAPE(w.dim() == 4 && w.shape()[2] >= 1 && w.shape()[3] >= 1,
                   "{}: weight must be 4-D {} with a non-empty kernel, got {}", op, layout, w.shape());
  ELBO_CHECK_SHAPE(x.shape()[1] == w.shape()[size_t(ic)], "{}: input {} has {} channels, weight {} expects {}", op,
                   x.shape(), x.shape()[1], w.shape(), w.shape()[size_t(ic)]);
  if (b.defined())
    ELBO_CHECK_SHAPE(b.dim() == 1 && b.shape()[0] == w.shape()[size_t(oc)],
                     "{}: bias {} does not match weight {}: expected [{}] (one per output channel)", op, b.shape(),
                     w.shape(), w.shape()[size_t(oc)]);
  ELBO_CHECK_VALUE(stride >= 1, "{}: stride must be >= 1, got {}", op, stride);
  ELBO_CHECK_VALUE(padding >= 0, "{}: padding must be >= 0, got {}", op, padding);
  ELBO_CHECK(x.dtype() == w.dtype() && (!b.defined() || b.dtype() == w.dtype()),
             "{}: input is {}, weight {}{}; convert the input with .to()", op, x.dtype(), w.dtype(),
             b.defined() ? fmt::format(", bias {}", b.dtype()) : "");
  ELBO_CHECK(is_floating(w.dtype()), "{}: expected f32 or f64 tensors, got {}", op, w.dtype());
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding) {
  check_args("conv2d", x, w, b, stride, padding, 1, 0, "[out_channels, in_channels, kh, kw]");
  const Shape& s = x.shape();
  const int64_t kh = w.shape()[2], kw = w.shape()[3], hp = s[2] + 2 * padding, wp = s[3] + 2 * padding;
  ELBO_CHECK_SHAPE(hp >= kh && wp >= kw,
                   "conv2d: input {} padded by {} is {}x{}, smaller than the {}x{} kernel of weight {}", s, padding,
                   hp, wp, kh, kw, w.shape());
  const ConvGeom g{s[0], s[1], s[2], s[3], w.shape()[0], kh, kw, (hp - kh) / stride + 1, (wp - kw) / stride + 1,
                   stride, padding};
  Tensor y = run(Pass::forward, g, x, w, b, {g.n, g.o, g.ho, g.wo});
  const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.defined() && b.requires_grad();
  return record(op::conv2d, y, {x, w, b},
                [g, x = gw ? x.detach() : Tensor(), w = gx ? w.detach() : Tensor(), wshape = shape4(w), gx, gw,
                 gb](const Tensor& gy) {
                  // y = W col(x) + b (col: x's patches): dx = col^T(W^T dy), the adjoint; dW = dy col(x)^T;
                  // db = sum of dy over N, H, W
                  return Grads{gx ? run(Pass::input_grad, g, gy, w, Tensor(), x_shape(g)) : Tensor(),
                               gw ? run(Pass::weight_grad, g, x, gy, Tensor(), wshape) : Tensor(),
                               gb ? sum(gy, {0, 2, 3}) : Tensor()};
                });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t padding,
                        int64_t output_padding) {
  check_args("conv_transpose2d", x, w, b, stride, padding, 0, 1, "[in_channels, out_channels, kh, kw]");
  ELBO_CHECK_VALUE(output_padding >= 0 && output_padding < stride,
                   "conv_transpose2d: output_padding must be >= 0 and smaller than stride, got output_padding {} "
                   "with stride {}", output_padding, stride);
  const Shape& s = x.shape();
  const int64_t kh = w.shape()[2], kw = w.shape()[3];
  const int64_t h = (s[2] - 1) * stride - 2 * padding + kh + output_padding;
  const int64_t wd = (s[3] - 1) * stride - 2 * padding + kw + output_padding;
  ELBO_CHECK_SHAPE(h >= 1 && wd >= 1,
                   "conv_transpose2d: input {} with weight {}, stride {}, padding {}, output_padding {} gives an "
                   "empty {}x{} output; lower the padding", s, w.shape(), stride, padding, output_padding, h, wd);
  // conv2d's geometry with this op's output as the image and its input as conv2d's output.
  const ConvGeom g{s[0], w.shape()[1], h, wd, w.shape()[0], kh, kw, s[2], s[3], stride, padding};
  Tensor y = run(Pass::input_grad, g, x, w, b, x_shape(g));
  const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.defined() && b.requires_grad();
  return record(op::conv_transpose2d, y, {x, w, b},
                [g, x = gw ? x.detach() : Tensor(), w = gx ? w.detach() : Tensor(), wshape = shape4(w), gx, gw,
                 gb](const Tensor& gy) {
                  // y = col^T(W^T x) + b, conv2d's adjoint: dx = W col(dy), dW = x col(dy)^T, db = sum of dy
                  // over N, H, W
                  return Grads{gx ? run(Pass::forward, g, gy, w, Tensor(), {g.n, g.o, g.ho, g.wo}) : Tensor(),
                               gw ? run(Pass::weight_grad, g, gy, x, Tensor(), wshape) : Tensor(),
                               gb ? sum(gy, {0, 2, 3}) : Tensor()};
                });
}

}  // namespace elbo
