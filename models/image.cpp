#include "models/image.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "autograd/error.h"

namespace elbo::models {
namespace {

void write_png(const std::string& path, int w, int h, int channels, const std::vector<uint8_t>& pixels) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(w);
  img.height = png_uint_32(h);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  const std::string tmp = path + ".tmp";
  if (!png_image_write_to_file(&img, tmp.c_str(), 0, pixels.data(), 0, nullptr)) {
    std::remove(tmp.c_str());
    throw IOError(fmt::format("{}: cannot write PNG ({})", path, img.message));
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

void save_image_grid(const std::string& path, const Tensor& images, int64_t h, int64_t w, int64_t nrow, int64_t pad) {
  ELBO_CHECK_SHAPE(images.numel() % (h * w) == 0 && images.numel() > 0,
                   "save_image_grid: images {} are not a stack of {}x{} images", images.shape(), h, w);
  const int64_t n = images.numel() / (h * w);
  nrow = std::max<int64_t>(1, std::min(nrow, n));
  const int64_t rows = (n + nrow - 1) / nrow;
  const int64_t W = nrow * (w + pad) + pad, H = rows * (h + pad) + pad;
  std::vector<uint8_t> px(size_t(W * H), 40);
  const std::vector<float> v = images.to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t oy = pad + (i / nrow) * (h + pad), ox = pad + (i % nrow) * (w + pad);
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const float p = std::clamp(v[size_t(i * h * w + y * w + x)], 0.0f, 1.0f);
        px[size_t((oy + y) * W + ox + x)] = uint8_t(std::lround(p * 255.0f));
      }
  }
  write_png(path, int(W), int(H), 1, px);
}

void save_line_chart(const std::string& path, const std::vector<Series>& series, int W, int H) {
  std::vector<uint8_t> px(size_t(W * H * 3), 255);
  auto put = [&](int x, int y, const uint8_t* c) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    for (int k = 0; k < 3; ++k) px[size_t((y * W + x) * 3 + k)] = c[k];
  };
  const int left = 50, right = 20, top = 20, bottom = 40;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  size_t n = 1;
  for (const auto& s : series) {
    n = std::max(n, s.y.size());
    for (double v : s.y)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (!(lo < hi)) lo = (std::isfinite(lo) ? lo : 0) - 1, hi = lo + 2;
  const double margin = 0.05 * (hi - lo);
  lo -= margin, hi += margin;
  auto sx = [&](double i) { return left + int(std::lround(i / std::max<double>(1, double(n - 1)) * (W - left - right))); };
  auto sy = [&](double v) { return top + int(std::lround((hi - v) / (hi - lo) * (H - top - bottom))); };
  const uint8_t axis[3] = {0, 0, 0}, grid[3] = {225, 225, 225};
  for (int t = 0; t <= 4; ++t) {  // horizontal grid lines and y ticks
    const int y = top + t * (H - top - bottom) / 4;
    for (int x = left; x < W - right; ++x) put(x, y, grid);
    for (int x = left - 5; x < left; ++x) put(x, y, axis);
  }
  for (int x = left; x < W - right; ++x) put(x, H - bottom, axis);
  for (int y = top; y <= H - bottom; ++y) put(left, y, axis);
  const uint8_t colors[4][3] = {{31, 119, 180}, {214, 39, 40}, {44, 160, 44}, {148, 103, 189}};
  for (size_t s = 0; s < series.size() && s < 4; ++s) {
    const auto& ys = series[s].y;
    for (size_t i = 0; i + 1 < ys.size(); ++i) {  // thick line segments by dense sampling
      if (!std::isfinite(ys[i]) || !std::isfinite(ys[i + 1])) continue;
      const int x0 = sx(double(i)), x1 = sx(double(i + 1)), y0 = sy(ys[i]), y1 = sy(ys[i + 1]);
      const int steps = std::max({std::abs(x1 - x0), std::abs(y1 - y0), 1});
      for (int k = 0; k <= steps; ++k) {
        const int x = x0 + (x1 - x0) * k / steps, y = y0 + (y1 - y0) * k / steps;
        for (int dx = -1; dx <= 1; ++dx)
          for (int dy = -1; dy <= 1; ++dy) put(x + dx, y + dy, colors[s]);
      }
    }
    for (size_t i = 0; i < ys.size(); ++i)
      if (std::isfinite(ys[i]))
        for (int dx = -2; dx <= 2; ++dx)
          for (int dy = -2; dy <= 2; ++dy) put(sx(double(i)) + dx, sy(ys[i]) + dy, colors[s]);
    for (int dx = 0; dx < 20; ++dx)  // legend swatch per series, top right
      for (int dy = 0; dy < 6; ++dy) put(W - right - 30 + dx, top + 6 + int(s) * 12 + dy, colors[s]);
  }
  write_png(path, W, H, 3, px);
}

}  // namespace elbo::models
