#pragma once
// Running the zoo binaries from the reliability tests: a child process whose pid the test holds (so it can
// SIGKILL it), its exit status, MNIST-style data sets the test writes itself, and the parts of a run's
// output that must be reproducible (weights bit for bit; metrics without the wall-clock fields).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tfevents_check.h"

#include <models/idx.h>

#include "test_util.h"

extern char** environ;

namespace elbo::testing::zoo {
namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// Starts ELBO_TOOLS_DIR/args[0] with args[1..]; stdout and stderr go to `log`. Returns the pid.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  const std::string exe = std::string(ELBO_TOOLS_DIR) + "/" + args.at(0);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE_MESSAGE(rc == 0, "posix_spawn ", exe, ": ", std::strerror(rc));
  return pid;
}

// A shell command's exit status, standard output, standard error (through err_file) and wall time.
struct Result {
  int status;
  std::string out, err;
  double seconds = 0;
  std::string last_line() const {
    const auto end = out.find_last_not_of('\n');
    if (end == std::string::npos) return "";
    const auto start = out.rfind('\n', end);
    return out.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
  }
};
inline Result run_shell(const std::string& cmd, const std::string& err_file) {
  const auto t0 = std::chrono::steady_clock::now();
  Result r{-1, "", ""};
  FILE* p = popen((cmd + " 2>" + err_file).c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.err = slurp(err_file);
  fs::remove(err_file);
  return r;
}

// waitpid's status as a shell reports it: the exit code, or 128 + the signal that ended the process.
inline int status_of(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

inline int wait_for(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) FAIL("waitpid: ", std::strerror(errno));
  return status_of(st);
}

// Runs a binary to its end; its output (stdout and stderr) is left in `log`.
inline int run(const std::vector<std::string>& args, const std::string& log) { return wait_for(spawn(args, log)); }

// n_train + n_test 28x28 images, each a bright bar at a random row or column, as MNIST-style IDX files in
// `dir` (written once per directory name).
inline std::string bars_data(const std::string& dir, int64_t n_train, int64_t n_test) {
  if (fs::exists(fs::path(dir) / "t10k-images-idx3-ubyte")) return dir;
  fs::create_directories(dir);
  Generator gen(7);
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", n_train}, {"t10k", n_test}}) {
    std::vector<uint8_t> px(size_t(n) * 784, 0);
    for (int64_t i = 0; i < n; ++i) {
      const bool row = gen.uniform() < 0.5;
      const int64_t at = 4 + int64_t(gen.below(20));
      for (int64_t k = 0; k < 28; ++k)
        px[size_t(i * 784 + (row ? at * 28 + k : k * 28 + at))] = uint8_t(200 + gen.below(56));
    }
    models::write_idx(dir + "/" + split + "-images-idx3-ubyte", {n, 28, 28}, px);
  }
  return dir;
}

// A JSON line (metrics.jsonl, or the final line on stdout) without the wall-clock fields, which differ
// between any two runs; everything else must match bit for bit (numbers print with full precision).
inline std::string without_timing(std::string json) {
  for (const char* key : {", \"seconds\": ", ", \"examples_per_sec\": "})
    if (const size_t at = json.find(key); at != std::string::npos)
      json.erase(at, json.find_first_of(",}", at + 2) - at);
  return json;
}

// The reproducible part of a run directory: the final weights and every metrics line without timing.
struct RunRecord {
  std::string weights, metrics;
};
inline RunRecord record_of(const fs::path& out) {
  std::ifstream f(out / "metrics.jsonl");
  std::string line, metrics;
  while (std::getline(f, line)) metrics += without_timing(line) + "\n";
  return {slurp(out / "model.safetensors"), metrics};
}

}  // namespace elbo::testing::zoo
