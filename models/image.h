#pragma once
// PNG output through libpng: image grids (samples, reconstructions, latent manifolds) and a simple
// line chart for training curves. Files are written atomically (temporary file + rename).
#include <string>
#include <vector>

#include "../autograd/tensor.h"

namespace elbo::models {

// images: [N, H * W] (or [N, 1, H, W]) with values in [0, 1] (clamped); nrow images per row of the grid,
// separated by `pad` pixels of a dark gray border. Grayscale 8-bit.
void save_image_grid(const std::string& path, const Tensor& images, int64_t height, int64_t width, int64_t nrow,
                     int64_t pad = 2);

struct Series {
  std::string name;
  std::vector<double> y;  // one value per x = 1, 2, ...
};
// A line chart of the series (up to 4, distinct colors) with axes and tick marks; RGB 8-bit.
void save_line_chart(const std::string& path, const std::vector<Series>& series, int width = 640, int height = 400);

}  // namespace elbo::models
