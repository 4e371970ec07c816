// NumPy .npy files (models/npy.h) and the image data sets made of them (models/dataset.h, load_npy): files
// as numpy writes them, write_npy round trips, every defect an IOError naming the file and the byte
// offset, and the two layouts with their labels and the fixed test split.
#include <models/dataset.h>
#include <models/npy.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / "elbo_test_npy";
  fs::create_directories(d);
  return d / name;
}

void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

std::string from_hex(const std::string& h) {
  std::string b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) b += char(std::stoi(h.substr(i, 2), nullptr, 16));
  return b;
}

// What numpy 1.24 writes for np.save(f, np.array([[0, .5, 1], [.25, .75, 1]], dtype=np.float32)): a
// version 1.0 header of 118 bytes padded with spaces to 128, then 24 bytes of data.
std::string numpy_float32() {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  return std::string("\x93NUMPY\x01\x00\x76\x00", 10) + header + from_hex("000000000000003f0000803f0000803e0000403f0000803f");
}

// A header dict with the given text, padded as numpy pads it, and `data` after it.
std::string npy_with(const std::string& dict, const std::string& data = "") {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string b("\x93NUMPY\x01\x00", 8);
  b += char(header.size() & 0xff), b += char(header.size() >> 8);
  return b + header + data;
}

std::string error_reading(const std::string& bytes) {
  const fs::path p = scratch("bad.npy");
  write_bytes(p, bytes);
  return testing::error_of([&] { NpyFile f(p.string()); });
}

}  // namespace

TEST_CASE("npy: a file as numpy writes it is mapped, its rows in place") {
  const fs::path p = scratch("numpy.npy");
  write_bytes(p, numpy_float32());
  const NpyFile f(p.string());
  CHECK(f.shape() == Shape{2, 3});
  CHECK(f.type() == NpyType::float32);
  CHECK(f.data_offset() == 128);
  CHECK(f.rows() == 2);
  CHECK(f.row_elements() == 3);
  float r1[3];
  std::memcpy(r1, f.row(1), sizeof r1);
  CHECK(r1[0] == 0.25f);
  CHECK(r1[1] == 0.75f);
  CHECK(r1[2] == 1.0f);
  CHECK_ERROR_HAS(f.row(2), "row 2 of 2");
}

TEST_CASE("npy: write_npy writes what numpy writes, and reads back for every element type") {
  const float v[] = {0, 0.5f, 1, 0.25f, 0.75f, 1};
  write_npy(scratch("mine.npy").string(), {2, 3}, NpyType::float32, v);
  std::ifstream in(scratch("mine.npy"), std::ios::binary);
  const std::string mine((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(mine == numpy_float32());  // byte for byte

  const int64_t i64[] = {3, -1, 7};
  const uint8_t u8[] = {0, 9, 255, 4};
  const double f64[] = {0.125};
  write_npy(scratch("i64.npy").string(), {3}, NpyType::int64, i64);
  write_npy(scratch("u8.npy").string(), {2, 1, 2}, NpyType::uint8, u8);
  write_npy(scratch("f64.npy").string(), {}, NpyType::float64, f64);
  const NpyFile a(scratch("i64.npy").string()), b(scratch("u8.npy").string()), c(scratch("f64.npy").string());
  CHECK(a.shape() == Shape{3});
  CHECK(a.type() == NpyType::int64);
  int64_t back;
  std::memcpy(&back, a.row(1), 8);
  CHECK(back == -1);
  CHECK(b.shape() == Shape{2, 1, 2});
  CHECK(b.row(1)[0] == 255);
  CHECK(c.shape().empty());
  CHECK(c.rows() == 1);
  double d;
  std::memcpy(&d, c.row(0), 8);
  CHECK(d == 0.125);
  for (const auto* f : {&a, &b, &c}) CHECK(f->data_offset() % 64 == 0);  // numpy's alignment
}

TEST_CASE("npy: every defect is an IOError naming the file and the byte offset") {
  const std::string path = scratch("bad.npy").string();
  CHECK(error_reading("PK\x03\x04 not numpy") == path + ": not a .npy file at byte offset 0: it does not start with "
                                                        "\\x93NUMPY");
  CHECK(error_reading(std::string("\x93NUMPY\x01", 7)) ==
        path + ": truncated at byte offset 7: the .npy preamble needs 10 bytes");
  std::string v4 = npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'));
  v4[6] = 4;
  CHECK(error_reading(v4) == path + ": .npy version 4.0 at byte offset 6 is not 1.0, 2.0 or 3.0");
  std::string longer = npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }");
  longer[8] = char(0xff);
  CHECK(error_reading(longer) == path + ": truncated at byte offset 128: the header claims 255 bytes from offset 10");
  CHECK(error_reading(npy_with("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'))) ==
        path + ": .npy element type '>f4' (header at byte offset 10) is not one of |u1 |i1 <i4 <i8 <f4 <f8 "
               "(little-endian)");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0'))) ==
        path + ": .npy array in Fortran order (header at byte offset 10): write it in C order "
               "(numpy.ascontiguousarray)");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", std::string(15, '\0'))) ==
        path + ": truncated at byte offset 143: shape [2, 2] of <f4 needs 16 bytes of data from offset 128");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(5, '\0'))) ==
        path + ": 1 bytes after the data's end at byte offset 132 (shape [1] of <f4)");
  // the header's own defects, at the offset of the token
  CHECK(error_reading(npy_with("{'descr': '<f4', 'order': False, 'shape': (1,), }")) ==
        path + ": bad .npy header at byte offset 27: unknown key 'order' (a .npy header holds descr, fortran_order "
               "and shape)");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1, -2), }")) ==
        path + ": bad .npy header at byte offset 64: expected a non-negative integer in the shape");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }")) ==
        path + ": bad .npy header at byte offset 44: expected True or False");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'shape': (1,), }")) ==
        path + ": bad .npy header at byte offset 10: the header lacks 'fortran_order'");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }")) ==
        path + ": .npy shape [99999999999, 99999999999] (header at byte offset 10) is not a plausible size");
  CHECK(error_reading(npy_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)")) ==
        path + ": bad .npy header at byte offset 128: the header ends inside its dict");
  CHECK_ERROR_HAS(NpyFile(scratch("no such file.npy").string()), "no such file.npy: cannot open");
}

namespace {

// n images of h x w as uint8, pixel (i, j) of image k = (k + i + j) % 256.
std::vector<uint8_t> pixels(int64_t n, int64_t h, int64_t w) {
  std::vector<uint8_t> p(size_t(n * h * w));
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < h * w; ++i) p[size_t(k * h * w + i)] = uint8_t((k + i / w + i % w) % 256);
  return p;
}

}  // namespace

TEST_CASE("load_npy: a directory of train and test arrays with labels") {
  const fs::path d = scratch("dir");
  fs::remove_all(d);
  fs::create_directories(d);
  const std::vector<uint8_t> train = pixels(5, 3, 4), test = pixels(2, 3, 4);
  write_npy((d / "train.npy").string(), {5, 3, 4}, NpyType::uint8, train.data());
  write_npy((d / "test.npy").string(), {2, 3, 4, 1}, NpyType::uint8, test.data());
  const int32_t labels[] = {4, 0, 1, 1, 3};
  write_npy((d / "train_labels.npy").string(), {5}, NpyType::int32, labels);
  CHECK(is_npy_data(d.string()));
  const Split s = load_npy(d.string());
  CHECK(s.train.size() == 5);
  CHECK(s.test.size() == 2);
  CHECK(s.train.height == 3);
  CHECK(s.train.width == 4);
  CHECK(s.train.images.shape() == Shape{5, 12});
  CHECK(s.train.images.dtype() == DType::f32);
  CHECK(s.train.images.to_vector<float>()[13] == float(train[13]) / 255.0f);
  CHECK(s.train.labels.to_vector<int64_t>() == std::vector<int64_t>{4, 0, 1, 1, 3});
  CHECK(!s.test.labels.defined());  // no test_labels.npy
  // labels that do not match the images
  const int64_t three[] = {1, 2, 3};
  write_npy((d / "test_labels.npy").string(), {3}, NpyType::int64, three);
  CHECK_ERROR_HAS(load_npy(d.string()), "test_labels.npy: labels of shape [3] do not match the 2 images of");
  const int64_t negative[] = {1, -2};
  write_npy((d / "test_labels.npy").string(), {2}, NpyType::int64, negative);
  CHECK_ERROR_HAS(load_npy(d.string()), "test_labels.npy: label -2 at byte offset 136 is negative or beyond 2^31");
  fs::remove(d / "test_labels.npy");
  // test images of another size
  write_npy((d / "test.npy").string(), {2, 4, 3}, NpyType::uint8, test.data());
  CHECK_ERROR_HAS(load_npy(d.string()), "test images of 4 x 3 do not match the training images' 3 x 4");
  // without test.npy, the training file's fixed split
  fs::remove(d / "test.npy");
  const Split t = load_npy(d.string());
  CHECK(t.train.size() == 4);
  CHECK(t.test.size() == 1);
}

TEST_CASE("load_npy: one file splits a tenth off for testing, the same every time, labels beside it") {
  const fs::path f = scratch("digits.npy");
  const int64_t n = 45;
  std::vector<float> v(size_t(n * 6));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i % 97) / 96.0f;
  for (int64_t k = 0; k < n; ++k) v[size_t(k * 6)] = float(k) / 64.0f;  // the first value names the example
  write_npy(f.string(), {n, 6}, NpyType::float32, v.data());
  std::vector<uint8_t> labels(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) labels[size_t(k)] = uint8_t(k % 10);
  write_npy(scratch("digits_labels.npy").string(), {n}, NpyType::uint8, labels.data());
  CHECK(is_npy_data(f.string()));
  const Split a = load_npy(f.string()), b = load_npy(f.string());
  REQUIRE(a.test.size() == 4);  // 45 / 10
  REQUIRE(a.train.size() == 41);
  CHECK(a.train.height == 1);  // [N, D] images are 1 x D
  CHECK(a.train.width == 6);
  CHECK(a.test.images.to_vector<float>() == b.test.images.to_vector<float>());
  std::set<int64_t> seen;
  for (const Dataset* d : {&a.train, &a.test}) {
    const std::vector<float> x = d->images.to_vector<float>();
    const std::vector<int64_t> y = d->labels.to_vector<int64_t>();
    for (int64_t k = 0; k < d->size(); ++k) {
      const int64_t id = int64_t(x[size_t(k * 6)] * 64.0f + 0.5f);
      CHECK(y[size_t(k)] == id % 10);  // each label stays with its example
      if (k > 0) CHECK(id > int64_t(x[size_t((k - 1) * 6)] * 64.0f + 0.5f));  // in file order
      seen.insert(id);
    }
  }
  CHECK(seen.size() == size_t(n));  // every example once
  // floats outside [0, 1], NaN, integer images, and shapes the models cannot take
  v[7] = 1.5f;
  write_npy(f.string(), {n, 6}, NpyType::float32, v.data());
  CHECK_ERROR_HAS(load_npy(f.string()), "digits.npy: value 1.5 at byte offset 156 (element 7) is outside [0, 1]");
  v[7] = std::nanf("");
  write_npy(f.string(), {n, 6}, NpyType::float32, v.data());
  CHECK_ERROR_HAS(load_npy(f.string()), "digits.npy: value nan at byte offset 156 (element 7) is outside [0, 1]");
  const int64_t ints[] = {1, 2, 3, 4};
  write_npy(f.string(), {2, 2}, NpyType::int64, ints);
  CHECK_ERROR_HAS(load_npy(f.string()), "images of element type <i8 (header before byte offset 128): expected |u1, "
                                        "<f4 or <f8");
  write_npy(f.string(), {4}, NpyType::float32, v.data());
  CHECK_ERROR_HAS(load_npy(f.string()), "images of shape [4] (header before byte offset 128): expected [N, H, W]");
  write_npy(f.string(), {1, 4}, NpyType::float32, v.data());
  fs::remove(scratch("digits_labels.npy"));
  CHECK_ERROR_HAS(load_npy(f.string()), "1 example, too few to split into training and test sets");
  CHECK(!is_npy_data(scratch("elsewhere").string()));
}

namespace {
// This process's anonymous resident memory (RssAnon in /proc/self/status), in KiB: what a data set read
// into memory grows, and a mapped file's pages (file-backed, reclaimable) do not.
int64_t rss_anon_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8));
  return -1;
}
}  // namespace

TEST_CASE("load_npy: a training set over the memory limit stays in its file; its batches are the in-memory ones") {
  const fs::path d = scratch("big");
  fs::remove_all(d);
  fs::create_directories(d);
  const int64_t n = 4096, h = 48, w = 48;  // 9 MiB of bytes, 36 MiB as floats
  const std::vector<uint8_t> px = pixels(n, h, w);
  write_npy((d / "train.npy").string(), {n, h, w}, NpyType::uint8, px.data());
  write_npy((d / "test.npy").string(), {4, h, w}, NpyType::uint8, px.data());
  const int64_t before = rss_anon_kib();
  REQUIRE(before > 0);
  int64_t grown = 0;
  {
    const Split mapped = load_npy(d.string(), 1 << 20);  // a 1 MiB limit
    REQUIRE(mapped.train.mapped != nullptr);
    CHECK(!mapped.train.images.defined());
    CHECK(mapped.train.size() == n);
    CHECK(mapped.test.images.defined());  // the test set is always in memory
    Generator g(3);
    const std::vector<int64_t> order = permutation(n, g);
    for (int64_t b = 0; b < n; b += 64) {  // every row once, in a shuffled order, a batch at a time
      const Tensor x = mapped.train.mapped->rows(order, b, b + 64);
      CHECK(x.shape() == Shape{64, h * w});
      grown = std::max(grown, rss_anon_kib() - before);
    }
    // the same rows as the in-memory set, bit for bit
    const Split memory = load_npy(d.string());
    REQUIRE(memory.train.mapped == nullptr);
    CHECK(mapped.train.mapped->rows(order, 100, 164).to_vector<float>() ==
          rows(memory.train.images, order, 100, 164).to_vector<float>());
    // the mean read from the file sums in double, the in-memory one in the reduction kernel: equal to rounding
    CHECK(testing::all_close(mean_image(mapped.train), mean_image(memory.train), 1e-6, 1e-7));
    CHECK(head(mapped.train, 10).size() == 10);
  }
  INFO("RssAnon grew by ", grown, " KiB while reading 36 MiB of floats batch by batch");
#if defined(__SANITIZE_ADDRESS__)
  (void)grown;  // AddressSanitizer keeps freed blocks in quarantine: the sanitizer build cannot see memory flat
#else
  CHECK(grown < 8 * 1024);
#endif
  // a bad value anywhere is found when the set is made, not mid-training
  std::vector<float> v(size_t(64 * 10), 0.5f);
  v[size_t(63 * 10 + 9)] = -0.25f;
  write_npy((d / "train.npy").string(), {64, 10}, NpyType::float32, v.data());
  write_npy((d / "test.npy").string(), {1, 10}, NpyType::float32, v.data());
  CHECK_ERROR_HAS(load_npy(d.string(), 0), "train.npy: value -0.25 at byte offset 2684 (element 639) is outside [0, 1]");
}
