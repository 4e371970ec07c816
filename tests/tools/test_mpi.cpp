// The zoo under mpirun -np 2 (built only with MPI): a data-parallel run reports and writes once, a 2-rank
// --resume ends bitwise where an uninterrupted 2-rank run ends, and every failure ends every rank with a
// clear line and no hang: a world size that does not divide the batch, ranks started with different
// flags, a rank that stops answering, a rank that dies, a task that cannot run data-parallel.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <models/strokes.h>

#include "test_util.h"
#include "zoo_harness.h"

namespace fs = std::filesystem;
using elbo::testing::zoo::bars_data;
using elbo::testing::zoo::slurp;

namespace {

using Run = elbo::testing::zoo::Result;

// mpirun -np <np> <args> with the environment CI needs (see tests/parallel/CMakeLists.txt); `args` names
// binaries relative to the tools or tests directory.
Run mpirun(int np, const std::string& args, const std::string& env = "") {
  return elbo::testing::zoo::run_shell("OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                                       "OMPI_MCA_btl_vader_single_copy_mechanism=none " + env + " " +
                                           ELBO_MPIEXEC + " --oversubscribe -np " + std::to_string(np) + " " + args,
                                       "test_mpi_stderr.txt");
}

std::string tool(const std::string& name) { return std::string(ELBO_TOOLS_DIR) + "/" + name; }
std::string data() { return bars_data("test_mpi_data", 512, 128); }
int count(const std::string& s, const std::string& needle) {
  int k = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++k;
  return k;
}
const std::string kFlags = " --batch 64 --hidden 32 --latent 2 --quiet --threads 1";

}  // namespace

TEST_CASE("mpirun -np 2 elbo-vae trains one model; rank 0 alone reports and writes") {
  fs::remove_all("test_mpi_vae");
  const Run r = mpirun(2, tool("elbo-vae") + " --data " + data() + kFlags + " --epochs 2 --out test_mpi_vae");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(count(r.out, "\"test_elbo\"") == 1);  // one final line, from rank 0
  CHECK(r.out.find("\"ranks\": 2") != std::string::npos);
  CHECK(r.out.find("\"allreduce_ms_per_step\": ") != std::string::npos);
  CHECK(slurp("test_mpi_vae/metrics.jsonl").find("\"allreduce_ms_per_step\": ") != std::string::npos);
  for (const char* f : {"model.safetensors", "checkpoint.safetensors", "samples.png", "README.md"})
    CHECK_MESSAGE(fs::exists(fs::path("test_mpi_vae") / f), f);
  // the autoencoder and the sequence VAE run data-parallel too; non-amortized VI refuses
  const Run ae = mpirun(2, tool("elbo-ae") + " --data " + data() + kFlags + " --epochs 1 --out test_mpi_ae");
  INFO(ae.err);
  CHECK(ae.status == 0);
  // stroke sequences: 16 random characters written as the three split files
  fs::create_directories("test_mpi_strokes");
  elbo::Generator g(2);
  elbo::models::StrokeSet set;
  set.scale = 30;
  for (int i = 0; i < 16; ++i) {
    std::vector<int16_t> xy;
    std::vector<uint8_t> pen;
    const int n = 3 + int(g.below(8));
    for (int k = 0; k < n; ++k) xy.push_back(int16_t(g.below(60)) - 30), xy.push_back(int16_t(g.below(60)) - 30),
                                pen.push_back(k + 1 == n || k == 2);
    set.add(uint32_t(i), xy, pen);
  }
  for (const char* split : {"train", "valid", "test"})
    elbo::models::write_strokes(std::string("test_mpi_strokes/strokes-") + split + ".bin", set);
  const Run seq = mpirun(2, tool("elbo-seqvae") + " --data test_mpi_strokes --batch 8 --hidden 16 --latent 4 "
                            "--mixtures 2 --quiet --threads 1 --epochs 2 --out test_mpi_seqvae");
  INFO(seq.err);
  CHECK(seq.status == 0);
  CHECK(seq.out.find("\"ranks\": 2") != std::string::npos);
  const Run vi = mpirun(2, tool("elbo-vi") + " --data " + data() + kFlags + " --epochs 1 --out test_mpi_vi");
  CHECK(vi.status != 0);
  CHECK(count(vi.err, "does not run data-parallel: start it without mpirun") == 1);
}

TEST_CASE("a 2-rank --resume ends bitwise where an uninterrupted 2-rank run ends") {
  for (const char* d : {"test_mpi_resume_a", "test_mpi_resume_b"}) fs::remove_all(d);
  const std::string cmd = tool("elbo-vae") + " --data " + data() + kFlags;
  REQUIRE(mpirun(2, cmd + " --epochs 3 --out test_mpi_resume_a").status == 0);
  REQUIRE(mpirun(2, cmd + " --epochs 1 --out test_mpi_resume_b").status == 0);
  const Run r = mpirun(2, cmd + " --epochs 3 --resume --out test_mpi_resume_b");
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(slurp("test_mpi_resume_a/model.safetensors") == slurp("test_mpi_resume_b/model.safetensors"));
  CHECK(slurp("test_mpi_resume_a/checkpoint.safetensors") == slurp("test_mpi_resume_b/checkpoint.safetensors"));
}

TEST_CASE("data-parallel failures end every rank with one line and no hang") {
  const std::string cmd = tool("elbo-vae") + " --data " + data() + " --hidden 32 --latent 2 --quiet --threads 1 --epochs 1";
  const Run odd = mpirun(3, cmd + " --batch 64 --out test_mpi_odd");
  CHECK(odd.status != 0);
  CHECK(count(odd.err, "--batch 64 is not divisible by the 3 ranks of this job (--batch is the global batch)") == 1);
  // MPMD: the two ranks were started with different flags
  const Run diff = mpirun(1, cmd + " --batch 64 --out test_mpi_diff : -np 1 " + cmd + " --batch 32 --out test_mpi_diff");
  CHECK(diff.status != 0);
  CHECK(count(diff.err, "the command line or the data differs between ranks (rank 1 differs from rank 0)") == 1);
  // a rank that stops answering: the other gives up after ELBO_MPI_TIMEOUT and ends the job
  const std::string check = std::string(ELBO_TESTS_BIN) + "/ddp_check";
  const Run stall = mpirun(2, check + " stall", "ELBO_MPI_TIMEOUT=3");
  CHECK(stall.status != 0);
  CHECK(stall.err.find("ddp_check: rank 0: all-reduce did not finish within 3 s (ELBO_MPI_TIMEOUT)") != std::string::npos);
  CHECK(stall.seconds < 30);  // rank 1 would sleep 60 s
  const Run die = mpirun(2, check + " die");
  CHECK(die.status != 0);
  CHECK(die.out.find("the second all-reduce returned") == std::string::npos);
  CHECK(die.seconds < 30);
}
