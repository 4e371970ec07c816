// Progress, metrics and the final JSON line (report.h).
#include "training/report.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "autograd/error.h"

namespace elbo::training {

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

namespace {
std::string escaped(const std::string& v) {
  std::string out;
  for (const char ch : v) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) out += fmt::format("\\u{:04x}", int(ch));
    else out += ch;
  }
  return out;
}
}  // namespace

std::string json_object(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings) {
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : strings) {
    s += fmt::format("{}\"{}\": \"{}\"", first ? "" : ", ", k, escaped(v));
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

}  // namespace elbo::training
