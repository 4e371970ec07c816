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

}  // namespace elbo::models
