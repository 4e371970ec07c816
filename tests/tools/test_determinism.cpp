// Determinism (issue 7, promise 6). What holds, and is checked here:
//  - the same seed and thread count give bitwise-identical weights (model.safetensors, the checkpoint with
//    its optimizer and generator state), metrics.jsonl and final JSON line (wall-clock fields aside);
//  - so do different thread counts (1, 2, 3), for the MLP and the conv VAE: every kernel that splits work
//    across threads gives each output element to one thread, with a fixed summation order (the GEMM splits
//    whole output panels, sums add fixed blocks in order, conv splits whole images), so the thread count
//    changes who computes an element, never how.
// Not promised: identical results across instruction sets (ELBO_ARCH): FMA and vector widths round
// differently.
#include "zoo_harness.h"

using namespace elbo;
using namespace elbo::testing::zoo;

namespace {

struct Run {
  RunRecord record;
  std::string checkpoint, final_line;
};

// Large enough that the GEMMs (64 x 784 x 128) and the convolutions are split across threads.
Run train(const std::string& arch, int threads, const std::string& tag) {
  const std::string data = bars_data("test_determinism_data", 256, 64);
  const fs::path out = fmt::format("test_determinism_{}_{}", arch, tag);
  fs::remove_all(out);
  const int status = run({"elbo-vae", "--data", data, "--out", out.string(), "--arch", arch, "--epochs", arch == "conv" ? "1" : "2",
                          "--batch", "64", "--hidden", "128", "--latent", "4", "--seed", "11", "--threads",
                          std::to_string(threads), "--quiet"},
                         out.string() + ".log");
  const std::string log = slurp(out.string() + ".log");
  INFO(log);
  REQUIRE(status == 0);
  const auto last = log.find_last_not_of('\n');
  const auto start = log.rfind('\n', last);
  return {record_of(out), slurp(out / "checkpoint.safetensors"),
          without_timing(log.substr(start == std::string::npos ? 0 : start + 1))};
}

void check_same(const Run& a, const Run& b) {
  REQUIRE(!a.record.weights.empty());
  CHECK_MESSAGE(a.record.weights == b.record.weights, "model.safetensors differs");
  CHECK_MESSAGE(a.checkpoint == b.checkpoint, "checkpoint.safetensors differs");
  CHECK(a.record.metrics == b.record.metrics);
  CHECK(a.final_line == b.final_line);
  CHECK(a.final_line.find("\"test_elbo\": ") != std::string::npos);
}

}  // namespace

TEST_CASE("the same seed and thread count give bitwise-identical weights and metrics") {
  for (int threads : {1, 2}) {
    INFO("threads ", threads);
    check_same(train("mlp", threads, fmt::format("a{}", threads)), train("mlp", threads, fmt::format("b{}", threads)));
  }
}

TEST_CASE("1, 2 and 3 threads give bitwise-identical weights and metrics (MLP and conv VAE)") {
  for (const char* arch : {"mlp", "conv"}) {
    INFO(arch);
    const Run one = train(arch, 1, "t1");
    for (int threads : {2, 3}) {
      INFO("threads ", threads);
      check_same(one, train(arch, threads, fmt::format("t{}", threads)));
    }
  }
}
