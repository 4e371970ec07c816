#include "models/dataset.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "models/idx.h"
#include "models/npy.h"

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
  if (d.mapped) h.mapped = std::make_shared<const MappedImages>(d.mapped->head(n));
  else h.images = narrow(d.images, 0, 0, n);
  if (d.labels.defined()) h.labels = narrow(d.labels, 0, 0, n);
  return h;
}

namespace {

// An image .npy file checked for shape and element type (its values are checked as rows are read).
void check_images(const NpyFile& f) {
  const Shape& s = f.shape();
  const bool ok = (s.size() == 2 || s.size() == 3 || (s.size() == 4 && s[3] == 1)) && s[0] > 0 && f.row_elements() > 0;
  if (!ok)
    throw IOError(fmt::format("{}: images of shape {} (header before byte offset {}): expected [N, H, W], [N, H, W, 1] "
                              "or [N, D] with N, H, W, D > 0",
                              f.path(), s, f.data_offset()));
  if (f.type() != NpyType::uint8 && f.type() != NpyType::float32 && f.type() != NpyType::float64)
    throw IOError(fmt::format("{}: images of element type {} (header before byte offset {}): expected |u1, <f4 "
                              "or <f8",
                              f.path(), npy_descr(f.type()), f.data_offset()));
}

}  // namespace

// Row r of an image file as floats in [0, 1]: pixels / 255 for uint8, floats checked.
void read_image_row(const NpyFile& f, int64_t r, float* out) {
  const int64_t per = f.row_elements();
  const uint8_t* row = f.row(r);
  const auto bad = [&](int64_t j, double v) {
    const int64_t i = r * per + j;
    throw IOError(fmt::format("{}: value {} at byte offset {} (element {}) is outside [0, 1]: images must be uint8 "
                              "or floats in [0, 1]",
                              f.path(), v, f.data_offset() + i * int64_t(npy_itemsize(f.type())), i));
  };
  switch (f.type()) {
    case NpyType::uint8:
      for (int64_t j = 0; j < per; ++j) out[j] = float(row[j]) / 255.0f;
      break;
    case NpyType::float32:
      for (int64_t j = 0; j < per; ++j) {
        float v;
        std::memcpy(&v, row + 4 * j, 4);
        if (!(v >= 0.0f && v <= 1.0f)) bad(j, double(v));
        out[j] = v;
      }
      break;
    case NpyType::float64:
      for (int64_t j = 0; j < per; ++j) {
        double v;
        std::memcpy(&v, row + 8 * j, 8);
        if (!(v >= 0.0 && v <= 1.0)) bad(j, v);
        out[j] = float(v);
      }
      break;
    default: check_images(f);  // throws
  }
}

MappedImages::MappedImages(std::shared_ptr<const NpyFile> file, std::vector<int64_t> rows)
    : file_(std::move(file)), rows_(std::move(rows)) {
  check_images(*file_);
  std::vector<float> scratch(static_cast<size_t>(dim()));
  for (int64_t r : rows_) read_image_row(*file_, r, scratch.data());  // every value checked once, up front
}

int64_t MappedImages::dim() const { return file_->row_elements(); }

Tensor MappedImages::rows(std::span<const int64_t> order, int64_t begin, int64_t end) const {
  Tensor x = empty({end - begin, dim()});
  float* p = x.data<float>();
  for (int64_t i = begin; i < end; ++i) read_image_row(*file_, rows_[size_t(order[size_t(i)])], p + (i - begin) * dim());
  return x;
}

MappedImages MappedImages::head(int64_t n) const {
  MappedImages h = *this;
  if (n < size()) h.rows_.resize(size_t(n));
  return h;
}

Tensor mean_image(const Dataset& d) {
  if (!d.mapped) return mean(d.images, {0});
  std::vector<double> sum(size_t(d.dim()), 0.0);
  std::vector<float> row(sum.size());
  for (int64_t i = 0; i < d.size(); ++i) {
    read_image_row(d.mapped->file(), d.mapped->file_row(i), row.data());
    for (size_t j = 0; j < row.size(); ++j) sum[j] += row[j];
  }
  for (double& v : sum) v /= double(d.size());
  return tensor(sum, {d.dim()}).to(DType::f32);
}

namespace {

Tensor npy_labels(const NpyFile& f, int64_t n, const std::string& images) {
  if (f.shape().size() != 1 || f.shape()[0] != n)
    throw IOError(fmt::format("{}: labels of shape {} do not match the {} images of {}", f.path(), f.shape(), n,
                              images));
  Tensor t = empty({n}, DType::i64);
  int64_t* out = t.data<int64_t>();
  const size_t item = npy_itemsize(f.type());
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* b = f.row(i);
    int64_t v = 0;
    switch (f.type()) {
      case NpyType::uint8: v = b[0]; break;
      case NpyType::int8: v = int8_t(b[0]); break;
      case NpyType::int32: { int32_t x; std::memcpy(&x, b, 4); v = x; break; }
      case NpyType::int64: std::memcpy(&v, b, 8); break;
      default:
        throw IOError(fmt::format("{}: labels of element type {} (header before byte offset {}): expected integers "
                                  "(|u1, |i1, <i4, <i8)",
                                  f.path(), npy_descr(f.type()), f.data_offset()));
    }
    if (v < 0 || v > (int64_t(1) << 31))
      throw IOError(fmt::format("{}: label {} at byte offset {} is negative or beyond 2^31", f.path(), v,
                                f.data_offset() + i * int64_t(item)));
    out[i] = v;
  }
  return t;
}

// An image file and its labels (when the labels file exists), checked against each other.
struct NpySource {
  std::shared_ptr<const NpyFile> images;
  Tensor labels;
  int64_t height = 0, width = 0;
  int64_t size() const { return images->rows(); }
};

NpySource open_npy(const std::string& images, const std::string& labels) {
  NpySource src;
  src.images = std::make_shared<const NpyFile>(images);
  check_images(*src.images);
  const Shape& s = src.images->shape();
  src.height = s.size() == 2 ? 1 : s[1];
  src.width = s.size() == 2 ? s[1] : s[2];
  if (std::filesystem::exists(labels)) src.labels = npy_labels(NpyFile(labels), src.size(), images);
  return src;
}

// The rows `which` of a source, in memory or left in the file.
Dataset npy_rows(const NpySource& src, std::vector<int64_t> which, bool in_file) {
  Dataset d;
  d.source = src.images->path();
  d.height = src.height, d.width = src.width;
  const int64_t n = int64_t(which.size());
  if (src.labels.defined()) d.labels = rows(src.labels, which, 0, n);
  if (in_file) {
    d.mapped = std::make_shared<const MappedImages>(src.images, std::move(which));
  } else {
    d.images = empty({n, src.images->row_elements()});
    float* p = d.images.data<float>();
    for (int64_t i = 0; i < n; ++i) read_image_row(*src.images, which[size_t(i)], p + i * src.images->row_elements());
  }
  return d;
}

std::vector<int64_t> all_rows(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}

// The training rows stay in the file when they would take more than max_bytes as floats.
bool too_big(const NpySource& src, int64_t rows, int64_t max_bytes) {
  return rows * src.images->row_elements() * 4 > max_bytes;
}

// A tenth (at least 1, and 1 of 2) of the examples by a fixed-seed permutation for testing, the rest kept
// in their order for training.
Split split_off_test(const NpySource& src, int64_t max_bytes) {
  const int64_t n = src.size();
  if (n < 2)
    throw IOError(fmt::format("{}: {} example, too few to split into training and test sets", src.images->path(), n));
  Generator g(0x5eed5711);  // fixed: every run on the file tests on the same examples
  std::vector<int64_t> order = permutation(n, g);
  const int64_t test = std::max<int64_t>(1, n / 10);
  std::sort(order.begin(), order.begin() + test);
  std::sort(order.begin() + test, order.end());
  std::vector<int64_t> train_rows(order.begin() + test, order.end()), test_rows(order.begin(), order.begin() + test);
  const bool in_file = too_big(src, n - test, max_bytes);
  return {npy_rows(src, std::move(train_rows), in_file), npy_rows(src, std::move(test_rows), false)};
}

std::string labels_beside(const std::filesystem::path& file) {
  return (file.parent_path() / (file.stem().string() + "_labels.npy")).string();
}

}  // namespace

bool is_npy_data(const std::string& path) {
  namespace fs = std::filesystem;
  return (fs::path(path).extension() == ".npy" && !fs::is_directory(path)) || fs::exists(fs::path(path) / "train.npy");
}

Split load_npy(const std::string& path, int64_t max_bytes) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(path)) return split_off_test(open_npy(path, labels_beside(path)), max_bytes);
  const fs::path dir(path);
  const NpySource train = open_npy((dir / "train.npy").string(), (dir / "train_labels.npy").string());
  if (!fs::exists(dir / "test.npy")) return split_off_test(train, max_bytes);
  const NpySource test = open_npy((dir / "test.npy").string(), (dir / "test_labels.npy").string());
  if (test.height != train.height || test.width != train.width)
    throw IOError(fmt::format("{}: test images of {} x {} do not match the training images' {} x {} ({})",
                              test.images->path(), test.height, test.width, train.height, train.width,
                              train.images->path()));
  return {npy_rows(train, all_rows(train.size()), too_big(train, train.size(), max_bytes)),
          npy_rows(test, all_rows(test.size()), false)};
}

std::vector<Part> load_parts(const std::string& path) {
  namespace fs = std::filesystem;
  const auto whole = [](const NpySource& src) { return npy_rows(src, all_rows(src.size()), false); };
  std::vector<Part> parts;
  if (is_npy_data(path)) {
    if (!fs::is_directory(path)) return {{"", whole(open_npy(path, labels_beside(path)))}};
    const fs::path dir(path);
    parts.push_back({"train", whole(open_npy((dir / "train.npy").string(), (dir / "train_labels.npy").string()))});
    if (fs::exists(dir / "test.npy"))
      parts.push_back({"test", whole(open_npy((dir / "test.npy").string(), (dir / "test_labels.npy").string()))});
    return parts;
  }
  parts.push_back({"train", load_split(path, "train")});
  if (!find_file(path, "t10k-images-idx3-ubyte").empty()) parts.push_back({"test", load_split(path, "t10k")});
  return parts;
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
  thread_local Shape s;  // a training step's batch allocates no shape
  s.assign(x.shape().begin(), x.shape().end());
  s[0] = n;
  Tensor y = empty(s, x.dtype());
  const size_t bytes = size_t(d) * itemsize(x.dtype());
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(static_cast<char*>(y.raw()) + size_t(i) * bytes,
                static_cast<const char*>(x.raw()) + size_t(order[size_t(begin + i)]) * bytes, bytes);
  return y;
}

}  // namespace elbo::models
