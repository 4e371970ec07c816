// Durability (issue 7, promise 5): a training run killed with SIGKILL, at any moment, resumes with
// --resume from its last checkpoint and ends bitwise where an uninterrupted run with the same seed and
// thread count ends: the same model.safetensors, the same metrics.jsonl figures.
#include <signal.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <nn/safetensors.h>

#include "zoo_harness.h"

using namespace elbo;
using namespace elbo::testing::zoo;

namespace {

// The epoch the run's checkpoint holds, 0 while there is none. Safe against a concurrent save: the file
// is replaced by rename, so it is always a whole checkpoint, the old one or the new.
int checkpoint_epoch(const fs::path& out) {
  const fs::path p = out / "checkpoint.safetensors";
  if (!fs::exists(p)) return 0;
  for (const auto& [name, t] : nn::load_tensors(p.string()).tensors)
    if (name == "epoch") return int(t.to_vector<int64_t>().at(0));
  FAIL("no epoch entry in ", p);
  return 0;
}

// Starts the run, waits until its checkpoint holds `epoch` epochs, waits `delay` more (the run is then in
// epoch + 1), and kills it with SIGKILL. Checks that the run really died by the signal, mid-run.
void kill_after_checkpoint(const std::vector<std::string>& args, const fs::path& out, int epoch,
                           std::chrono::milliseconds delay) {
  const pid_t pid = spawn(args, (out.string() + ".log"));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  int st = 0;
  while (checkpoint_epoch(out) < epoch) {
    if (waitpid(pid, &st, WNOHANG) != 0)
      FAIL("the run ended before epoch ", epoch, " was saved: status ", status_of(st), "\n", slurp(out.string() + ".log"));
    if (std::chrono::steady_clock::now() > give_up) FAIL("no checkpoint of epoch ", epoch, " after 5 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(delay);
  REQUIRE(kill(pid, SIGKILL) == 0);
  const int status = wait_for(pid);
  INFO(slurp(out.string() + ".log"));
  REQUIRE_MESSAGE(status == 128 + SIGKILL, "the run was not killed mid-run (it had ended, status ", status, ")");
  CHECK_FALSE(fs::exists(out / "model.safetensors"));  // it died before the end
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Runs the killed run's --resume to its end and checks it ended bitwise where the uninterrupted run did;
// returns the resumed run's record.
RunRecord resume_to_end(const std::vector<std::string>& resume_args, const fs::path& whole, const fs::path& killed) {
  const int status = run(resume_args, killed.string() + ".log");
  INFO(slurp(killed.string() + ".log"));
  REQUIRE(status == 0);
  const RunRecord a = record_of(whole), b = record_of(killed);
  REQUIRE(!a.weights.empty());
  CHECK_MESSAGE(a.weights == b.weights, "model.safetensors differs from the uninterrupted run's");
  CHECK(a.metrics == b.metrics);
  return b;
}

}  // namespace

TEST_CASE("a run killed with SIGKILL mid-epoch resumes and ends bitwise where an uninterrupted run ends") {
  // 2048 examples in batches of 32: 64 optimizer steps per epoch, long enough that a kill lands inside one.
  const std::string data = bars_data("test_durability_data", 2048, 64);
  const fs::path whole = "test_durability_whole", killed = "test_durability_killed";
  fs::remove_all(whole), fs::remove_all(killed);
  const std::vector<std::string> args{"elbo-vae", "--data", data,    "--epochs", "6", "--batch", "32", "--hidden",
                                      "32",       "--latent", "2", "--seed", "5", "--threads", "1", "--quiet"};
  auto with = [&](const std::vector<std::string>& extra) { return concat(args, extra); };
  REQUIRE(run(with({"--out", whole.string()}), whole.string() + ".log") == 0);

  // killed twice: inside epoch 2 (just after the first checkpoint), then, resumed, inside epoch 4
  kill_after_checkpoint(with({"--out", killed.string()}), killed, 1, std::chrono::milliseconds(20));
  const int saved = checkpoint_epoch(killed);
  CHECK(saved >= 1);
  kill_after_checkpoint(with({"--out", killed.string(), "--resume"}), killed, saved + 2, std::chrono::milliseconds(5));
  CHECK(checkpoint_epoch(killed) >= saved + 2);
  const RunRecord b = resume_to_end(with({"--out", killed.string(), "--resume"}), whole, killed);
  // the killed runs logged steps past their last checkpoint; the resumed log dropped them: no step twice
  CHECK(tfevents_ok(killed.string(), 6));
  CHECK(std::count(b.metrics.begin(), b.metrics.end(), '\n') == 6);
  CHECK(slurp(whole / "checkpoint.safetensors") == slurp(killed / "checkpoint.safetensors"));
}

TEST_CASE("a Burda-schedule run killed at a stage boundary and mid-stage resumes bitwise with each epoch's rate") {
  // burda:2: epoch 1 at 1e-3, epochs 2-4 at 1e-3 * 10^(-1/7), epochs 5-13 at 1e-3 * 10^(-2/7)
  const std::string data = bars_data("test_durability_burda_data", 600, 40);
  const fs::path whole = "test_durability_burda_whole", killed = "test_durability_burda_killed";
  fs::remove_all(whole), fs::remove_all(killed);
  const std::vector<std::string> args{"elbo-vae", "--arch", "burda", "--stochastic-layers", "2", "--schedule", "burda:2",
                                      "--data", data, "--seed", "3", "--threads", "1", "--quiet"};
  auto with = [&](const std::vector<std::string>& extra) { return concat(args, extra); };
  REQUIRE(run(with({"--out", whole.string()}), whole.string() + ".log") == 0);
  // at once after epoch 1's checkpoint (the rate changes with the next epoch), then inside stage 1
  kill_after_checkpoint(with({"--out", killed.string()}), killed, 1, std::chrono::milliseconds(0));
  const int first = checkpoint_epoch(killed);
  kill_after_checkpoint(with({"--out", killed.string(), "--resume"}), killed, first + 1, std::chrono::milliseconds(15));
  kill_after_checkpoint(with({"--out", killed.string(), "--resume"}), killed, 4, std::chrono::milliseconds(0));
  const RunRecord b = resume_to_end(with({"--out", killed.string(), "--resume"}), whole, killed);
  CHECK(std::count(b.metrics.begin(), b.metrics.end(), '\n') == 13);
  {  // epoch 5 is the first of stage 2
    std::istringstream lines(b.metrics);
    std::string line;
    for (int e = 0; e < 5; ++e) std::getline(lines, line);
    CHECK(line.find("\"epoch\": 5,") != std::string::npos);
    CHECK(line.find("\"lr\": 0.000517947467923") != std::string::npos);
  }
  CHECK(tfevents_ok(killed.string(), 13));
}
