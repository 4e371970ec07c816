#pragma once
// Image data sets in MNIST's IDX layout: DIR/{train,t10k}-images-idx3-ubyte[.gz] and optional
// -labels-idx1-ubyte[.gz]. Pixels become f32 in [0, 1] (byte / 255), one flattened row per image.
// Minibatches come from a seeded permutation; binarization is applied per batch.
#include <span>
#include <string>
#include <vector>

#include "../autograd/ops.h"

namespace elbo::models {

struct Dataset {
  Tensor images;  // [N, H * W] f32 in [0, 1]
  Tensor labels;  // [N] i64, undefined when the labels file is absent
  int64_t height = 0, width = 0;
  std::string source;  // the images file, for messages
  int64_t size() const { return images.defined() ? images.shape()[0] : 0; }
  int64_t dim() const { return height * width; }
};

// split: "train" or "t10k". Throws elbo::IOError naming the directory when the images file is missing.
Dataset load_split(const std::string& dir, const std::string& split);
// The first n examples (n >= size() keeps all).
Dataset head(const Dataset& d, int64_t n);

enum class Binarize { none, dynamic, threshold, dequantize };
Binarize parse_binarize(const std::string& s);  // "none" | "dynamic" | "threshold" | "dequantize"
std::string to_string(Binarize b);
// dynamic: x ~ Bernoulli(pixel) afresh each call; threshold: pixel > 0.5; none: unchanged; dequantize: the
// 8-bit level k = round(255 x) spread uniformly over its bin, (k + u) / 256 with u ~ U[0, 1) afresh each
// call (for densities on [0, 1], whose bits per dim then bound the 8-bit data's; likelihood.h).
Tensor binarize(const Tensor& x, Binarize mode, Generator& gen);

// A random permutation of [0, n) (Fisher-Yates driven by gen).
std::vector<int64_t> permutation(int64_t n, Generator& gen);
// Rows [begin, end) of the order, gathered from x [N, D].
Tensor rows(const Tensor& x, std::span<const int64_t> order, int64_t begin, int64_t end);

}  // namespace elbo::models
