#pragma once
// Image data sets in MNIST's IDX layout: DIR/{train,t10k}-images-idx3-ubyte[.gz] and optional
// -labels-idx1-ubyte[.gz], or in NumPy arrays (load_npy). Pixels become f32 in [0, 1] (byte / 255), one
// flattened row per image.
// Minibatches come from a seeded permutation; binarization is applied per batch.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../autograd/ops.h"

namespace elbo::models {

class NpyFile;

// Images left in their .npy file (npy.h), for a training set larger than memory: rows are read from the
// mapping as each batch asks for them (every value checked once, when the set is made), so memory stays
// at a batch's worth while the file is read page by page.
class MappedImages {
 public:
  MappedImages(std::shared_ptr<const NpyFile> file, std::vector<int64_t> rows);  // rows: the file's rows used
  int64_t size() const { return int64_t(rows_.size()); }
  int64_t dim() const;
  // Rows order[begin, end) of this set (indices into it), as f32 [end - begin, D] in [0, 1].
  Tensor rows(std::span<const int64_t> order, int64_t begin, int64_t end) const;
  MappedImages head(int64_t n) const;  // the first n rows
  const NpyFile& file() const { return *file_; }
  int64_t file_row(int64_t i) const { return rows_[size_t(i)]; }

 private:
  std::shared_ptr<const NpyFile> file_;
  std::vector<int64_t> rows_;
};

struct Dataset {
  Tensor images;  // [N, H * W] f32 in [0, 1]; undefined when the images stay in their file (mapped)
  Tensor labels;  // [N] i64, undefined when the labels file is absent
  std::shared_ptr<const MappedImages> mapped;  // the images, when they stay in their .npy file
  int64_t height = 0, width = 0;
  std::string source;  // the images file, for messages
  int64_t size() const { return mapped ? mapped->size() : images.defined() ? images.shape()[0] : 0; }
  int64_t dim() const { return height * width; }
};

// The mean image [D] (in memory or read from the file).
Tensor mean_image(const Dataset& d);
// Row r of an image .npy file as D floats in [0, 1] (uint8 / 255; floats checked, else an IOError naming
// the file and the byte offset).
void read_image_row(const NpyFile& f, int64_t r, float* out);

// split: "train" or "t10k". Throws elbo::IOError naming the directory when the images file is missing.
Dataset load_split(const std::string& dir, const std::string& split);
// The first n examples (n >= size() keeps all).
Dataset head(const Dataset& d, int64_t n);

// Image data sets from NumPy .npy arrays (npy.h), in one of two layouts:
//   FILE.npy           every example; FILE_labels.npy beside it, when present, their labels. The test set is
//                      a tenth of the examples (at least 1, and 1 of 2), picked by a permutation with a
//                      fixed seed, so every run on the file tests on the same examples; the rest train.
//   DIR/train.npy      the training set, DIR/test.npy the test set (without it, the split of FILE.npy
//                      above), DIR/train_labels.npy and DIR/test_labels.npy their labels, when present.
// Images are [N, H, W], [N, H, W, 1] or [N, D] (drawn as rows of 1 x D): uint8 read as pixel / 255, or
// float32 / float64 already in [0, 1]. Labels are [N] integers (uint8, int8, int32, int64), not negative.
// A value outside [0, 1], a NaN, a shape the models cannot take or labels that do not match are an
// elbo::IOError naming the file and the byte offset.
struct Split {
  Dataset train, test;
};
bool is_npy_data(const std::string& path);  // FILE.npy, or a directory holding train.npy
// max_bytes: a training set that would take more as f32 stays in its file (Dataset::mapped); the test
// set is always read into memory.
Split load_npy(const std::string& path, int64_t max_bytes = INT64_MAX);

// Every example of a data set in its files' order, for exporting (export.h): named parts, "train" and
// "test" for a directory (IDX: train and t10k; NumPy: train.npy and test.npy, when present), one part
// named "" for a single .npy file (no test split).
struct Part {
  std::string name;
  Dataset data;
};
std::vector<Part> load_parts(const std::string& path);

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
