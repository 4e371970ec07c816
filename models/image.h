#pragma once
// PNG output through libpng: image grids (samples, reconstructions, latent manifolds), written atomically
// (temporary file + rename). plot.h draws the plots with words and the captioned grids.
#include <string>
#include <vector>

#include "../autograd/tensor.h"

namespace elbo::models {

// images: [N, H * W] (or [N, 1, H, W]) with values in [0, 1] (clamped); nrow images per row of the grid,
// separated by `pad` pixels of a dark gray border. Grayscale 8-bit.
void save_image_grid(const std::string& path, const Tensor& images, int64_t height, int64_t width, int64_t nrow,
                     int64_t pad = 2);

}  // namespace elbo::models
