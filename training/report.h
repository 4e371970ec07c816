#pragma once
// What a run shows and writes as it goes: a progress bar on a terminal (plain lines otherwise),
// OUT/metrics.jsonl with one JSON object per epoch, and the JSON line of final figures.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace elbo::training {

// Epoch, examples done, a running figure, examples/s and ETA; on a terminal it redraws one line at most
// ten times a second, elsewhere it prints a line every ten seconds. quiet: nothing.
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

// OUT/metrics.jsonl. A fresh run starts the file anew; a resumed run keeps the lines of the epochs its
// checkpoint holds and drops any written after it (by a run killed mid-save).
class Metrics {
 public:
  Metrics(const std::string& path, int64_t keep_lines);
  void write(const std::map<std::string, double>& numbers, const std::map<std::string, std::string>& strings = {});

 private:
  std::string path_;
};

// One JSON object on one line: strings first, then numbers at full precision (null when not finite).
std::string json_object(const std::map<std::string, double>& numbers,
                        const std::map<std::string, std::string>& strings = {});

}  // namespace elbo::training
