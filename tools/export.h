#pragma once
// elbo-vae's --encode, --decode and --score (README: Using a trained model): a loaded model over a data set
// or a file of latents, written into OUT as .npy files (and encoded.safetensors), in data order; the last
// line on stdout is one JSON object of what was written. The calls are models/export.h's.
#include <cstdint>
#include <string>

#include "models/model.h"

namespace elbo::zoo {

struct ExportRequest {
  std::string encode;   // DATA (any --data layout): OUT/[part_]loc.npy, [part_]scale.npy, [part_]labels.npy
  std::string decode;   // Z.npy [N, L]: OUT/decoded.npy [N, H, W] and OUT/decoded.png (the first 64)
  std::string score;    // DATA: OUT/[part_]elbo.npy and, with iw > 0, [part_]loglik.npy
  int iw = 0;           // importance samples of --score's log-likelihood
  std::string binarize = "dynamic";  // how --score reads the images, as the test set is read in training
  uint64_t seed = 1;
  std::string out;
  int64_t height = 0, width = 0;  // the model's images
  std::string model;              // its description, for the JSON line
};

// The image size of a data set (its first part), without keeping its examples.
std::pair<int64_t, int64_t> image_size(const std::string& data);

void export_model(const models::AmortizedModel& m, const ExportRequest& r);

}  // namespace elbo::zoo
