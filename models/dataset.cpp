#include "models/dataset.h"

#include <cstring>
#include <filesystem>

#include "models/idx.h"

namespace elbo::models {
namespace {
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const char* ext : {".gz", ""}) {
    const std::string p = (std::filesystem::path(dir) / (stem + ext)).string();
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}
}  // namespace

Dataset load_split(const std::string& dir, const std::string& split) {
  const std::string images = find_file(dir, split + "-images-idx3-ubyte");
  if (images.empty())
    throw IOError(fmt::format("{}: no {}-images-idx3-ubyte[.gz] here (run `elbo-data mnist --out {}` to prepare "
                              "MNIST digits, or point --data at a directory with MNIST's IDX files)",
                              dir, split, dir));
  const IdxArray im = read_idx(images);
  if (im.shape.size() != 3)
    throw IOError(fmt::format("{}: expected a 3-D IDX array [N, H, W] of images, got shape {}", images, im.shape));
  Dataset d;
  d.source = images;
  d.height = im.shape[1];
  d.width = im.shape[2];
  const int64_t n = im.shape[0];
  d.images = empty({n, d.height * d.width});
  float* p = d.images.data<float>();
  for (size_t i = 0; i < im.data.size(); ++i) p[i] = float(im.data[i]) / 255.0f;
  const std::string labels = find_file(dir, split + "-labels-idx1-ubyte");
  if (!labels.empty()) {
    const IdxArray lb = read_idx(labels);
    if (lb.shape.size() != 1 || lb.shape[0] != n)
      throw IOError(fmt::format("{}: labels shape {} does not match {} images in {}", labels, lb.shape, n, images));
    d.labels = empty({n}, DType::i64);
    for (int64_t i = 0; i < n; ++i) d.labels.data<int64_t>()[i] = lb.data[size_t(i)];
  }
  return d;
}

Dataset head(const Dataset& d, int64_t n) {
  if (n >= d.size()) return d;
  Dataset h = d;
  h.images = narrow(d.images, 0, 0, n);
  if (d.labels.defined()) h.labels = narrow(d.labels, 0, 0, n);
  return h;
}

Binarize parse_binarize(const std::string& s) {
  if (s == "none") return Binarize::none;
  if (s == "dynamic") return Binarize::dynamic;
  if (s == "threshold") return Binarize::threshold;
  if (s == "dequantize") return Binarize::dequantize;
  throw ValueError(fmt::format("--binarize: '{}' is not one of none, dynamic, threshold, dequantize", s));
}

std::string to_string(Binarize b) {
  switch (b) {
    case Binarize::none: return "none";
    case Binarize::dynamic: return "dynamic";
    case Binarize::threshold: return "threshold";
    case Binarize::dequantize: return "dequantize";
  }
  return "?";
}

Tensor binarize(const Tensor& x, Binarize mode, Generator& gen) {
  switch (mode) {
    case Binarize::none: return x;
    case Binarize::dynamic: return bernoulli(x, gen);
    case Binarize::threshold: return gt(x, full({}, 0.5, x.dtype()));
    case Binarize::dequantize: {
      const Tensor k = x * 255.0 + 0.5;
      return (k - remainder(k, 1.0) + rand(x.shape(), gen, x.dtype())) / 256.0;
    }
  }
  return x;
}

std::vector<int64_t> permutation(int64_t n, Generator& gen) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[gen.below(uint64_t(i + 1))]);
  return p;
}

Tensor rows(const Tensor& x, std::span<const int64_t> order, int64_t begin, int64_t end) {
  const int64_t d = x.numel() / std::max<int64_t>(x.shape()[0], 1), n = end - begin;
  Shape s = x.shape();
  s[0] = n;
  Tensor y = empty(s, x.dtype());
  const size_t bytes = size_t(d) * itemsize(x.dtype());
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(static_cast<char*>(y.raw()) + size_t(i) * bytes,
                static_cast<const char*>(x.raw()) + size_t(order[size_t(begin + i)]) * bytes, bytes);
  return y;
}

}  // namespace elbo::models
