#include <algorithm>

#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

namespace {

// Direct loops in f64, straight from the definitions (torch.nn.functional.conv2d / conv_transpose2d).
Tensor conv2d_ref(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
  const Shape xs = x.shape(), ws = w.shape();
  const int64_t n = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[0], kh = ws[2], kw = ws[3];
  const int64_t ho = (h + 2 * p - kh) / s + 1, wo = (wd + 2 * p - kw) / s + 1;
  const auto vx = x.to_vector<double>(), vw = w.to_vector<double>();
  const auto vb = b.defined() ? b.to_vector<double>() : std::vector<double>(size_t(o), 0.0);
  std::vector<double> y(size_t(n * o * ho * wo));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t io = 0; io < o; ++io)
      for (int64_t oh = 0; oh < ho; ++oh)
        for (int64_t ow = 0; ow < wo; ++ow) {
          double acc = vb[size_t(io)];
          for (int64_t ic = 0; ic < c; ++ic)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * s - p + i, iw = ow * s - p + j;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += vx[size_t(((in * c + ic) * h + ih) * wd + iw)] * vw[size_t(((io * c + ic) * kh + i) * kw + j)];
              }
          y[size_t(((in * o + io) * ho + oh) * wo + ow)] = acc;
        }
  return tensor(y, {n, o, ho, wo}, DType::f64);
}

// Every input pixel scatters x * w into the output, at stride s, cropped by p on each side.
Tensor conv_transpose2d_ref(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p, int64_t op) {
  const Shape xs = x.shape(), ws = w.shape();
  const int64_t n = xs[0], c = xs[1], h = xs[2], wd = xs[3], o = ws[1], kh = ws[2], kw = ws[3];
  const int64_t ho = (h - 1) * s - 2 * p + kh + op, wo = (wd - 1) * s - 2 * p + kw + op;
  const auto vx = x.to_vector<double>(), vw = w.to_vector<double>();
  const auto vb = b.defined() ? b.to_vector<double>() : std::vector<double>(size_t(o), 0.0);
  std::vector<double> y(size_t(n * o * ho * wo));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t io = 0; io < o; ++io)
      for (int64_t k = 0; k < ho * wo; ++k) y[size_t((in * o + io) * ho * wo + k)] = vb[size_t(io)];
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ic = 0; ic < c; ++ic)
      for (int64_t ih = 0; ih < h; ++ih)
        for (int64_t iw = 0; iw < wd; ++iw)
          for (int64_t io = 0; io < o; ++io)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t oh = ih * s - p + i, ow = iw * s - p + j;
                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                y[size_t(((in * o + io) * ho + oh) * wo + ow)] +=
                    vx[size_t(((in * c + ic) * h + ih) * wd + iw)] * vw[size_t(((ic * o + io) * kh + i) * kw + j)];
              }
  return tensor(y, {n, o, ho, wo}, DType::f64);
}

struct Case {
  Shape x, w;
  int64_t stride, padding, output_padding;
  bool bias;
};

// Small cases: stride 1, 2 and 3, padding 0, 1 and 2 (the transposed tests cap it at 1), output_padding
// (transposed only) 1 and 2, non-square images and kernels, several channels, batch > 1.
const std::vector<Case> kCases = {
    {{1, 1, 4, 4}, {1, 1, 2, 2}, 1, 0, 0, false}, {{2, 3, 5, 4}, {2, 3, 3, 2}, 1, 1, 0, true},
    {{2, 2, 6, 5}, {3, 2, 3, 3}, 2, 0, 1, true},  {{3, 2, 5, 7}, {2, 2, 2, 3}, 2, 1, 1, false},
    {{1, 3, 4, 6}, {4, 3, 1, 3}, 1, 2, 0, true},  {{2, 1, 7, 5}, {2, 1, 4, 4}, 3, 1, 2, true},
};

}  // namespace

TEST_CASE("conv2d matches direct loops") {
  Generator gen(1);
  for (const Case& c : kCases) {
    CAPTURE(c.x);
    CAPTURE(c.w);
    Tensor x = uniform(c.x, gen, -1, 1), w = uniform(c.w, gen, -1, 1);
    Tensor b = c.bias ? uniform({c.w[0]}, gen, -1, 1) : Tensor();
    CHECK(all_close(conv2d(x, w, b, c.stride, c.padding), conv2d_ref(x, w, b, c.stride, c.padding), 1e-12, 1e-12));
  }
  // a hand-computed case: a 2x2 box filter over 0..8
  Tensor x = tensor({0, 1, 2, 3, 4, 5, 6, 7, 8}, {1, 1, 3, 3}, DType::f64);
  CHECK(conv2d(x, ones({1, 1, 2, 2}, DType::f64), tensor({1}, {1}, DType::f64)).to_vector<double>() ==
        std::vector<double>{9, 13, 21, 25});
  CHECK(conv2d(x, ones({1, 1, 2, 2}, DType::f64), Tensor(), 2, 1).to_vector<double>() ==
        std::vector<double>{0, 3, 9, 24});
}

TEST_CASE("conv_transpose2d matches direct loops and is conv2d's adjoint") {
  Generator gen(2);
  for (const Case& c : kCases) {
    CAPTURE(c.x);
    CAPTURE(c.w);
    const Shape ws{c.w[1], c.w[0], c.w[2], c.w[3]};  // [in, out, kh, kw]
    Tensor x = uniform({c.x[0], ws[0], c.x[2], c.x[3]}, gen, -1, 1), w = uniform(ws, gen, -1, 1);
    Tensor b = c.bias ? uniform({ws[1]}, gen, -1, 1) : Tensor();
    const int64_t s = c.stride, p = std::min<int64_t>(c.padding, 1), op = c.output_padding;
    CHECK(all_close(conv_transpose2d(x, w, b, s, p, op), conv_transpose2d_ref(x, w, b, s, p, op), 1e-12, 1e-12));
  }
  // <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> when the sizes line up
  Tensor x = uniform({2, 3, 7, 6}, gen, -1, 1), w = uniform({4, 3, 3, 2}, gen, -1, 1);
  Tensor y = uniform({2, 4, 4, 4}, gen, -1, 1);  // conv2d(x, w, stride 2, padding 1) is [2, 4, 4, 4]
  const double lhs = sum(conv2d(x, w, Tensor(), 2, 1) * y).item();
  const double rhs = sum(x * conv_transpose2d(y, w, Tensor(), 2, 1, 0)).item();
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-12));
}

TEST_CASE("conv2d gradchecks: strides, paddings, non-square, channels, batch, with and without bias") {
  Generator gen(3);
  for (const Case& c : kCases) {
    CAPTURE(c.x);
    CAPTURE(c.w);
    const int64_t s = c.stride, p = c.padding;
    if (c.bias)
      CHECK(gradcheck([s, p](auto& in) { return conv2d(in[0], in[1], in[2], s, p); },
                      {uniform(c.x, gen, -1, 1), uniform(c.w, gen, -1, 1), uniform({c.w[0]}, gen, -1, 1)}));
    else
      CHECK(gradcheck([s, p](auto& in) { return conv2d(in[0], in[1], Tensor(), s, p); },
                      {uniform(c.x, gen, -1, 1), uniform(c.w, gen, -1, 1)}));
  }
}

TEST_CASE("conv_transpose2d gradchecks: strides, paddings, output_padding, non-square, with and without bias") {
  Generator gen(4);
  for (const Case& c : kCases) {
    CAPTURE(c.x);
    CAPTURE(c.w);
    const Shape ws{c.w[1], c.w[0], c.w[2], c.w[3]};
    const Shape xs{c.x[0], ws[0], std::max<int64_t>(3, (c.x[2] + 1) / 2), std::max<int64_t>(3, (c.x[3] + 1) / 2)};
    const int64_t s = c.stride, p = std::min<int64_t>(c.padding, 1), op = c.output_padding;
    if (c.bias)
      CHECK(gradcheck([s, p, op](auto& in) { return conv_transpose2d(in[0], in[1], in[2], s, p, op); },
                      {uniform(xs, gen, -1, 1), uniform(ws, gen, -1, 1), uniform({ws[1]}, gen, -1, 1)}));
    else
      CHECK(gradcheck([s, p, op](auto& in) { return conv_transpose2d(in[0], in[1], Tensor(), s, p, op); },
                      {uniform(xs, gen, -1, 1), uniform(ws, gen, -1, 1)}));
  }
}

TEST_CASE("conv backward at batch sizes split into several chunks agrees with the direct loops") {
  // Both ops are linear in x and in w, so for L = sum(y * r) the directional derivatives are
  // <dL/dx, u> = sum(op(u, w) * r) and <dL/dw, v> = sum(op(x, v) * r), computed here by the reference.
  Generator gen(7);
  auto check = [&](const Shape& xs, const Shape& ws, auto op, auto ref) {
    Tensor x = uniform(xs, gen, -1, 1).requires_grad_(), w = uniform(ws, gen, -1, 1).requires_grad_();
    Tensor y = op(x, w);
    CHECK(all_close(y, ref(x.detach(), w.detach()), 1e-12, 1e-12));
    Tensor r = uniform(y.shape(), gen, -1, 1), u = uniform(xs, gen, -1, 1), v = uniform(ws, gen, -1, 1);
    sum(y * r).backward();
    CHECK(sum(x.grad() * u).item() == doctest::Approx(sum(ref(u, w.detach()) * r).item()).epsilon(1e-10));
    CHECK(sum(w.grad() * v).item() == doctest::Approx(sum(ref(x.detach(), v) * r).item()).epsilon(1e-10));
  };
  check({24, 16, 12, 10}, {8, 16, 5, 3}, [](const Tensor& x, const Tensor& w) { return conv2d(x, w, Tensor(), 2, 2); },
        [](const Tensor& x, const Tensor& w) { return conv2d_ref(x, w, Tensor(), 2, 2); });
  check({24, 16, 6, 6}, {16, 24, 5, 3},
        [](const Tensor& x, const Tensor& w) { return conv_transpose2d(x, w, Tensor(), 2, 2, 1); },
        [](const Tensor& x, const Tensor& w) { return conv_transpose2d_ref(x, w, Tensor(), 2, 2, 1); });
}

TEST_CASE("conv gradients flow to whichever inputs require them") {
  Generator gen(5);
  Tensor x = uniform({2, 2, 5, 5}, gen, -1, 1), w = uniform({3, 2, 3, 3}, gen, -1, 1), b = uniform({3}, gen, -1, 1);
  Tensor wt = uniform({2, 3, 3, 3}, gen, -1, 1);
  for (bool on_x : {false, true}) {
    Tensor xr = x.clone().requires_grad_(on_x), wr = w.clone().requires_grad_(!on_x), br = b.clone().requires_grad_();
    sum(square(conv2d(xr, wr, br, 2, 1))).backward();
    CHECK(xr.grad().defined() == on_x);
    CHECK(wr.grad().defined() == !on_x);
    CHECK(br.grad().shape() == Shape{3});
    Tensor xt = x.clone().requires_grad_(on_x), wtr = wt.clone().requires_grad_(!on_x);
    sum(square(conv_transpose2d(xt, wtr, Tensor(), 2, 1, 1))).backward();
    CHECK(xt.grad().defined() == on_x);
    CHECK(wtr.grad().defined() == !on_x);
  }
}

TEST_CASE("conv: f32 agrees with f64 at the conv VAE's shapes, for any thread count") {
  Generator gen(6);
  struct Layer {
    bool transposed;
    Shape x, w;
  };
  const Layer layers[] = {{false, {8, 1, 28, 28}, {32, 1, 4, 4}},
                          {false, {8, 32, 14, 14}, {64, 32, 4, 4}},
                          {true, {8, 64, 7, 7}, {64, 32, 4, 4}}};
  const int saved = num_threads();
  for (const Layer& l : layers) {
    CAPTURE(l.x);
    const int64_t oc = l.transposed ? l.w[1] : l.w[0];
    Tensor x = uniform(l.x, gen, 0, 1), w = uniform(l.w, gen, -0.1, 0.1), b = uniform({oc}, gen, -0.1, 0.1);
    auto run = [&](DType d, int threads) {
      set_num_threads(threads);
      Tensor xd = x.to(d).detach().requires_grad_(), wd = w.to(d).detach().requires_grad_();
      Tensor bd = b.to(d).detach().requires_grad_();
      Tensor y = l.transposed ? conv_transpose2d(xd, wd, bd, 2, 1) : conv2d(xd, wd, bd, 2, 1);
      sum(y * y).backward();
      return std::vector<Tensor>{y, xd.grad(), wd.grad(), bd.grad()};
    };
    const auto f64 = run(DType::f64, 1), f32 = run(DType::f32, 1), f32_2 = run(DType::f32, 2);
    CHECK(f64[0].shape() == (l.transposed ? Shape{8, 32, 14, 14} : Shape{8, l.w[0], l.x[2] / 2, l.x[3] / 2}));
    for (size_t i = 0; i < f64.size(); ++i) {
      CAPTURE(i);
      CHECK(all_close(f32[i].to(DType::f64), f64[i], 1e-3, 1e-4));
      CHECK(f32[i].to_vector<float>() == f32_2[i].to_vector<float>());  // bitwise, whatever the threads
    }
  }
  set_num_threads(saved);
}

TEST_CASE("conv errors name the op and the shapes") {
  const Tensor x = ones({2, 3, 8, 8}), w = ones({4, 3, 3, 3});
  CHECK_ERROR_HAS(conv2d(ones({2, 3, 8, 8}), ones({4, 2, 3, 3})),
                  "conv2d: input [2, 3, 8, 8] has 3 channels, weight [4, 2, 3, 3] expects 2");
  CHECK_ERROR_HAS(conv2d(ones({3, 8, 8}), w), "conv2d: input must be 4-D [N, C, H, W], got [3, 8, 8]");
  CHECK_ERROR_HAS(conv2d(x, ones({4, 3, 3})),
                  "conv2d: weight must be 4-D [out_channels, in_channels, kh, kw] with a non-empty kernel, got "
                  "[4, 3, 3]");
  CHECK_ERROR_HAS(conv2d(x, ones({4, 3, 0, 3})), "non-empty kernel, got [4, 3, 0, 3]");
  CHECK_ERROR_HAS(conv2d(x, w, ones({3})),
                  "conv2d: bias [3] does not match weight [4, 3, 3, 3]: expected [4]");
  CHECK_ERROR_HAS(conv2d(x, w, ones({4, 1})), "conv2d: bias [4, 1] does not match");
  CHECK_ERROR_HAS(conv2d(x, w, Tensor(), 0), "conv2d: stride must be >= 1, got 0");
  CHECK_ERROR_HAS(conv2d(x, w, Tensor(), 1, -1), "conv2d: padding must be >= 0, got -1");
  CHECK_ERROR_HAS(conv2d(ones({2, 3, 2, 5}), w),
                  "conv2d: input [2, 3, 2, 5] padded by 0 is 2x5, smaller than the 3x3 kernel of weight [4, 3, 3, 3]");
  CHECK(conv2d(ones({2, 3, 2, 5}), w, Tensor(), 1, 1).shape() == Shape{2, 4, 2, 5});
  CHECK_ERROR_HAS(conv2d(x.to(DType::f64), w), "conv2d: input is f64, weight f32; convert the input with .to()");
  CHECK_ERROR_HAS(conv2d(x, w, ones({4}, DType::f64)), "conv2d: input is f32, weight f32, bias f64");
  CHECK_ERROR_HAS(conv2d(ones({1, 1, 3, 3}, DType::i64), ones({1, 1, 1, 1}, DType::i64)),
                  "conv2d: expected f32 or f64 tensors, got i64");

  const Tensor wt = ones({3, 4, 3, 3});  // [in, out, kh, kw]
  CHECK_ERROR_HAS(conv_transpose2d(x, ones({4, 2, 3, 3})),
                  "conv_transpose2d: input [2, 3, 8, 8] has 3 channels, weight [4, 2, 3, 3] expects 4");
  CHECK_ERROR_HAS(conv_transpose2d(ones({8, 8}), wt), "conv_transpose2d: input must be 4-D [N, C, H, W], got [8, 8]");
  CHECK_ERROR_HAS(conv_transpose2d(x, ones({3, 4})),
                  "conv_transpose2d: weight must be 4-D [in_channels, out_channels, kh, kw] with a non-empty kernel");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt, ones({3})),
                  "conv_transpose2d: bias [3] does not match weight [3, 4, 3, 3]: expected [4]");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt, Tensor(), 0), "conv_transpose2d: stride must be >= 1, got 0");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt, Tensor(), 1, -2), "conv_transpose2d: padding must be >= 0, got -2");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt, Tensor(), 2, 1, 2),
                  "conv_transpose2d: output_padding must be >= 0 and smaller than stride, got output_padding 2 with "
                  "stride 2");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt, Tensor(), 1, 0, 1), "got output_padding 1 with stride 1");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt, Tensor(), 2, 0, -1), "got output_padding -1");
  CHECK_ERROR_HAS(conv_transpose2d(ones({1, 3, 1, 1}), ones({3, 4, 2, 2}), Tensor(), 1, 1),
                  "conv_transpose2d: input [1, 3, 1, 1] with weight [3, 4, 2, 2], stride 1, padding 1, "
                  "output_padding 0 gives an empty 0x0 output");
  CHECK_ERROR_HAS(conv_transpose2d(x, wt.to(DType::f64)), "conv_transpose2d: input is f32, weight f64");
}
