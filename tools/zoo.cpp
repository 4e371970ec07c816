#include "zoo.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "autograd/error.h"

namespace elbo::zoo {

namespace {
CLI::Validator finite_at_least(double lo, bool strict, const char* name) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "not a number: " + text;
        if (!std::isfinite(v) || v < lo || (strict && v == lo))
          return fmt::format("{} must be a finite number {} {}", text, strict ? ">" : ">=", lo);
        return {};
      },
      name);
}
}  // namespace

CLI::Validator positive_finite() { return finite_at_least(0, true, "POSITIVE"); }
CLI::Validator non_negative_finite() { return finite_at_least(0, false, "NONNEGATIVE"); }

void add_common_flags(CLI::App& app, Config& c) {
  app.add_option("--data", c.data, "directory with MNIST-style IDX files (gzipped or plain)")->capture_default_str();
  app.add_option("--epochs", c.epochs, "training epochs")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--batch", c.batch, "minibatch size")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--latent", c.latent, "latent dimensions")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--hidden", c.hidden, "hidden units")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--lr", c.lr, "Adam learning rate")->capture_default_str()->check(positive_finite());
  app.add_option("--seed", c.seed, "random seed (initialization, batches, sampling)")->capture_default_str();
  app.add_option("--threads", c.threads, "threads (0: ELBO_NUM_THREADS or all cores)")->check(CLI::Range(0, 1024));
  app.add_option("--binarize", c.binarize, "none | dynamic | threshold")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "dynamic", "threshold"}));
  app.add_option("--out", c.out, "output directory (metrics, checkpoints, images)")->capture_default_str();
  app.add_option("--save", c.save, "write the trained model here (safetensors; default OUT/model.safetensors)");
  app.add_option("--load", c.load, "start from this checkpoint");
  app.add_flag("--eval-only", c.eval_only, "evaluate the loaded model, no training");
  app.add_option("--iw", c.iw, "importance-sampled test log-likelihood with K samples")->check(CLI::Range(0, 100000));
  app.add_flag("--resume", c.resume, "continue the run whose checkpoint is in --out");
  app.add_option("--limit", c.limit, "use only the first N train and test examples (0: all)")->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet", c.quiet, "no progress output");
}

std::optional<int> parse_flags(CLI::App& app, int argc, const char* const* argv, const char* prog, std::ostream& out,
                               std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n' || ch == '\r') ch = ' ';
    err << prog << ": " << msg << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

void parse_or_exit(CLI::App& app, int argc, char** argv, const char* prog) {
  if (const std::optional<int> status = parse_flags(app, argc, argv, prog, std::cout, std::cerr)) std::exit(*status);
}

int run_main(const char* prog, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n') ch = ' ';
    std::cerr << prog << ": " << msg << "\n";
    return 1;
  }
}

Progress::Progress(std::string label, int64_t total, bool quiet)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO)), quiet_(quiet),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

void Progress::update(int64_t done, double figure, const char* name) {
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (done < total_ && since < (tty_ ? 0.1 : 10.0)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? double(done) / secs : 0;
  const double eta = rate > 0 ? double(total_ - done) / rate : 0;
  if (tty_) {
    const int width = 24, fill = total_ > 0 ? int(double(width) * double(done) / double(total_)) : width;
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  %s %.2f  %.0f ex/s  ETA %.0fs   ", label_.c_str(),
                 std::string(size_t(fill), '#').c_str(), std::string(size_t(width - fill), '.').c_str(),
                 (long long)done, (long long)total_, name, figure, rate, eta);
  } else {
    std::fprintf(stderr, "%s %lld/%lld %s %.2f %.0f ex/s ETA %.0fs\n", label_.c_str(), (long long)done,
                 (long long)total_, name, figure, rate, eta);
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (!quiet_ && tty_) std::fprintf(stderr, "\n");
}

std::string json_object(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings) {
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : strings) {
    s += fmt::format("{}\"{}\": \"{}\"", first ? "" : ", ", k, v);
    first = false;
  }
  for (const auto& [k, v] : numbers) {
    if (std::isfinite(v)) s += fmt::format("{}\"{}\": {}", first ? "" : ", ", k, v);
    else s += fmt::format("{}\"{}\": null", first ? "" : ", ", k);
    first = false;
  }
  return s + "}";
}

Metrics::Metrics(const std::string& path, int64_t keep_lines) : path_(path) {
  std::string kept, line;
  {
    std::ifstream in(path_);
    for (int64_t i = 0; i < keep_lines && std::getline(in, line); ++i) kept += line + "\n";
  }
  std::ofstream f(path_, std::ios::trunc);
  if (!f) throw IOError(fmt::format("{}: cannot write metrics", path_));
  f << kept;
}

void Metrics::write(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings) {
  std::ofstream f(path_, std::ios::app);
  if (!f) throw IOError(fmt::format("{}: cannot append metrics", path_));
  f << json_object(numbers, strings) << "\n";
}

}  // namespace elbo::zoo
