// PixelCNN's layers: the masks; the receptive field of a plain masked stack (causal, with the blind spot
// above and right of each pixel) and of a gated stack (causal, and no blind spot: after four layers the
// last row's pixels of a 5x5 image see every pixel before them), read from gradients; gradchecks; errors.
#include <nn/pixelcnn.h>

#include "test_util.h"

using namespace elbo;
using namespace elbo::testing;

namespace {
constexpr int64_t kSide = 5;

// Which input pixels reach output pixel p of f (x [1, C, 5, 5] -> [1, C', 5, 5]): a nonzero gradient of the
// output's channels at p with respect to any channel of the input pixel.
std::vector<bool> reach(const std::function<Tensor(const Tensor&)>& f, int64_t channels, int64_t p, Generator& gen) {
  const Tensor x = uniform({1, channels, kSide, kSide}, gen, -1, 1).requires_grad_();
  const Tensor out = f(x);
  sum(narrow(narrow(out, 2, p / kSide, 1), 3, p % kSide, 1)).backward();
  const auto g = x.grad().to_vector<double>();
  std::vector<bool> seen(kSide * kSide, false);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t q = 0; q < kSide * kSide; ++q) seen[size_t(q)] = seen[size_t(q)] || g[size_t(c * kSide * kSide + q)] != 0;
  return seen;
}
}  // namespace

TEST_CASE("pixelcnn_mask: rows above, and the centre row left of the pixel (A) or up to it (B)") {
  CHECK(nn::pixelcnn_mask(3, nn::Mask::A).to_vector<double>() == std::vector<double>{1, 1, 1, 1, 0, 0, 0, 0, 0});
  CHECK(nn::pixelcnn_mask(3, nn::Mask::B).to_vector<double>() == std::vector<double>{1, 1, 1, 1, 1, 0, 0, 0, 0});
  CHECK(nn::pixelcnn_mask(3, nn::Mask::B, true).to_vector<double>() == std::vector<double>{1, 1, 1, 1, 1, 1, 0, 0, 0});
  CHECK_THROWS_AS(nn::pixelcnn_mask(4, nn::Mask::A), ValueError);
}

TEST_CASE("a plain masked stack is causal and has the blind spot; a gated stack is causal without one") {
  Generator gen(1);
  nn::MaskedConv2d a(2, 4, 3, nn::Mask::A, true, gen), b1(4, 4, 3, nn::Mask::B, true, gen), b2(4, 4, 3, nn::Mask::B, true, gen);
  for (auto* m : {&a, &b1, &b2}) m->to(DType::f64);
  const auto plain = [&](const Tensor& x) { return b2(relu(b1(relu(a(x))))); };
  std::vector<nn::GatedPixelCnnLayer> layers;
  layers.emplace_back(3, nn::GatedLayerOptions{.mask = nn::Mask::A}, gen);
  for (int i = 0; i < 3; ++i) layers.emplace_back(3, nn::GatedLayerOptions{}, gen);
  for (auto& l : layers) l.to(DType::f64);
  const auto gated = [&](const Tensor& x) {
    Tensor v = x, h = x;
    for (const auto& l : layers) std::tie(v, h) = l.forward(v, h);
    return h;
  };
  for (int64_t p = 0; p < kSide * kSide; ++p) {
    CAPTURE(p);
    const std::vector<bool> seen = reach(plain, 2, p, gen), seen_gated = reach(gated, 3, p, gen);
    for (int64_t q = p; q < kSide * kSide; ++q) {  // the pixel itself and every later one: never
      CHECK_FALSE(seen[size_t(q)]);
      CHECK_FALSE(seen_gated[size_t(q)]);
    }
    if (p / kSide == kSide - 1)  // the last row: four gated layers reach every earlier pixel
      for (int64_t q = 0; q < p; ++q) CHECK_MESSAGE(seen_gated[size_t(q)], "pixel ", q, " not seen");
  }
  // the blind spot of the plain stack: the last row's first pixel sees the row above only up to 3 columns
  // right of it (one per layer), however deep the rows above go
  const std::vector<bool> seen = reach(plain, 2, 20, gen);
  CHECK(seen[15]);
  CHECK_FALSE(seen[9]);  // row 1, column 4: above and to the right, out of the plain stack's reach
}

TEST_CASE("gated PixelCNN layers and masked convolutions pass gradcheck, with and without a condition") {
  Generator gen(2);
  nn::GatedPixelCnnLayer first(2, {.mask = nn::Mask::A, .condition = 3}, gen), second(2, {}, gen);
  first.to(DType::f64), second.to(DType::f64);
  const Tensor x = uniform({2, 2, 4, 4}, gen, -1, 1), y = uniform({2, 3}, gen, -1, 1);
  CHECK(gradcheck(
      [&](std::vector<Tensor>& in) {
        auto [v, h] = first.forward(in[0], in[0], in[1]);
        auto [v2, h2] = second.forward(v, h);
        return sum(square(h2)) + sum(v2 * 0.5);
      },
      {x, y}));
  CHECK(gradcheck_params(  // the vertical stack's condition reaches v; h reads the vertical convolution before it
      [&] {
        const auto [v, h] = first.forward(x, x, y);
        return sum(square(h)) + sum(square(v));
      },
      first.parameters()));
  nn::MaskedConv2d conv(2, 3, 5, nn::Mask::B, true, gen);
  conv.to(DType::f64);
  CHECK(gradcheck([&](std::vector<Tensor>& in) { return sum(square(conv(in[0]))); }, {uniform({1, 2, 6, 6}, gen, -1, 1)}));
  CHECK(gradcheck_params([&] { return sum(square(conv(x))); }, conv.parameters()));
}

TEST_CASE("PixelCNN layers refuse even kernels, a missing or unexpected condition and mismatched stacks") {
  CHECK_THROWS_AS(nn::MaskedConv2d(1, 2, 4, nn::Mask::A), ValueError);
  CHECK_THROWS_AS(nn::GatedPixelCnnLayer(2, {.kernel = 2}), ValueError);
  nn::GatedPixelCnnLayer plain(2), conditioned(2, {.condition = 3});
  const Tensor x = zeros({1, 2, 4, 4});
  CHECK_THROWS_WITH_AS(plain.forward(x, x, zeros({1, 3})), doctest::Contains("called with a condition"), ShapeError);
  CHECK_THROWS_WITH_AS(conditioned.forward(x, x), doctest::Contains("called without a condition"), ShapeError);
  CHECK_THROWS_AS(conditioned.forward(x, x, zeros({1, 4})), ShapeError);
  CHECK_THROWS_AS(plain.forward(x, zeros({1, 2, 4, 5})), ShapeError);
  CHECK_THROWS_AS(plain.forward(zeros({1, 3, 4, 4}), zeros({1, 3, 4, 4})), ShapeError);
}
