#include <models/dataset.h>
#include <models/idx.h>

#include <algorithm>
#include <filesystem>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
namespace fs = std::filesystem;

TEST_CASE("load_split reads images (and labels) into [N, H*W] in [0, 1]") {
  const fs::path d = fs::temp_directory_path() / "elbo_test_dataset";
  fs::remove_all(d);
  fs::create_directories(d);
  std::vector<uint8_t> px(5 * 4 * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 4);
  write_idx((d / "train-images-idx3-ubyte").string(), {5, 4, 3}, px);
  write_idx((d / "train-labels-idx1-ubyte").string(), {5}, {0, 1, 2, 3, 4});
  const Dataset ds = load_split(d.string(), "train");
  CHECK(ds.size() == 5);
  CHECK(ds.dim() == 12);
  CHECK(ds.images.shape() == Shape{5, 12});
  CHECK(ds.images.to_vector<double>()[1] == doctest::Approx(4.0 / 255));
  CHECK(ds.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(head(ds, 2).size() == 2);
  CHECK_ERROR_HAS(load_split(d.string(), "t10k"), "no t10k-images-idx3-ubyte");
  write_idx((d / "t10k-images-idx3-ubyte").string(), {2, 4, 3}, std::vector<uint8_t>(24));
  write_idx((d / "t10k-labels-idx1-ubyte").string(), {3}, {0, 1, 2});
  CHECK_ERROR_HAS(load_split(d.string(), "t10k"), "does not match 2 images");
}

TEST_CASE("permutation, rows and binarization") {
  Generator gen(1);
  auto p = permutation(100, gen);
  auto sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) REQUIRE(sorted[size_t(i)] == i);
  CHECK(p != sorted);
  Generator g2(1);
  CHECK(permutation(100, g2) == p);
  const Tensor x = reshape(arange(12).to(DType::f32), {4, 3});
  CHECK(rows(x, std::vector<int64_t>{3, 0, 2, 1}, 1, 3).to_vector<double>() == std::vector<double>{0, 1, 2, 6, 7, 8});
  const Tensor gray = full({1000}, 0.3);
  const auto t = binarize(gray, Binarize::threshold, gen).to_vector<double>();
  CHECK(std::all_of(t.begin(), t.end(), [](double v) { return v == 0; }));
  const auto dyn = binarize(gray, Binarize::dynamic, gen).to_vector<double>();
  double s = 0;
  for (double v : dyn) {
    REQUIRE((v == 0 || v == 1));
    s += v;
  }
  CHECK(std::abs(s / 1000 - 0.3) < 5 * std::sqrt(0.3 * 0.7 / 1000));
  CHECK(binarize(gray, Binarize::none, gen).same(gray));
  CHECK(parse_binarize("dynamic") == Binarize::dynamic);
  CHECK_ERROR_HAS(parse_binarize("sometimes"), "--binarize: 'sometimes' is not one of none, dynamic, threshold");
}
