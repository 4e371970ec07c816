#pragma once
// What every zoo binary shares: the flags of DESIGN.md's command line (typed, parsed with CLI11), the
// progress bar, metrics.jsonl, and the "one clear line, exit 2 for bad flags, exit 1 for bad data" rule.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>

namespace elbo::zoo {

struct Config {
  std::string data = "data/mnist";
  int epochs = 10;
  int batch = 128;
  int latent = 20;
  int hidden = 400;
  double lr = 1e-3;
  uint64_t seed = 1;
  int threads = 0;  // 0: ELBO_NUM_THREADS or all hardware threads
  std::string binarize = "dynamic";
  std::string out = "runs/default";
  std::string save, load;
  bool eval_only = false;
  int iw = 0;  // --iw K: importance-sampled test log-likelihood with K samples
  bool resume = false;
  std::string arch = "mlp";
  int64_t limit = 0;  // use only the first N train / test examples (0: all); for quick runs and tests
  bool quiet = false;
};

// Validators for real-valued flags. CLI::PositiveNumber and CLI::NonNegativeNumber let "nan" through
// (NaN <= 0 is false; found by tests/fuzz/fuzz_zoo_flags.cpp); these refuse NaN and infinities as well.
CLI::Validator positive_finite();
CLI::Validator non_negative_finite();

// Adds the shared flags to app (binary-specific flags are added by the caller before or after).
void add_common_flags(CLI::App& app, Config& c);

// Parses argv without exiting: std::nullopt to go on; otherwise the status to exit with, its text already
// written: the help on `out` and 0 for --help, one line "prog: what (see --help)" on `err` and 2 for a bad
// flag. Anything CLI11 throws is one of those two (tests/fuzz/fuzz_zoo_flags.cpp holds it to that).
std::optional<int> parse_flags(CLI::App& app, int argc, const char* const* argv, const char* prog, std::ostream& out,
                               std::ostream& err);
// parse_flags on std::cout and std::cerr, exiting with its status unless the flags are good.
void parse_or_exit(CLI::App& app, int argc, char** argv, const char* prog);

// Runs body, turning elbo::Error and std::exception into one line on stderr and exit code 1.
int run_main(const char* prog, const std::function<int()>& body);

// A progress bar on a terminal (epoch, batch, running figure, examples/s, ETA); plain lines otherwise.
class Progress {
 public:
  Progress(std::string label, int64_t total, bool quiet);
  void update(int64_t done, double figure, const char* figure_name);
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool tty_, quiet_;
  std::chrono::steady_clock::time_point start_, last_;
};

// Appends one JSON object per line; values print with full precision.
// OUT/metrics.jsonl, one JSON line per epoch. A fresh run starts the file anew; a resumed run keeps the
// lines of the epochs its checkpoint holds and drops any written after it (by a run killed mid-save).
class Metrics {
 public:
  Metrics(const std::string& path, int64_t keep_lines);
  void write(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings = {});

 private:
  std::string path_;
};

std::string json_object(const std::map<std::string, double>& numbers,
                        const std::map<std::string, std::string>& strings = {});

}  // namespace elbo::zoo
