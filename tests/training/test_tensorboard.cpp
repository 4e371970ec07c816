#include <training/tensorboard.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace elbo;
namespace fs = std::filesystem;

TEST_CASE("crc32c: the Castagnoli check value") {
  CHECK(training::crc32c("123456789", 9) == 0xe3069283u);  // RFC 3720's check value
  CHECK(training::crc32c("", 0) == 0u);
}

TEST_CASE("SummaryWriter: records in order; a resumed writer drops the steps after its checkpoint") {
  const std::string dir = "test_tensorboard_run";
  fs::remove_all(dir);
  std::string path;
  {
    training::SummaryWriter w(dir);
    for (int64_t s = 1; s <= 5; ++s) w.add_scalar("train/loss", 1.0 / double(s), s);
    w.add_histogram("latent/mean", tensor({0.1, -0.4, 2.0, 0.3}, {4}), 5);
    w.add_image("samples", std::string(40, '\0'), 2, 3, 1, 5);
    path = w.path();
  }
  CHECK(training::event_steps(path) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 5, 5});  // 0: the file version
  {
    training::SummaryWriter w(dir, 3);  // resumed from a checkpoint at step 3
    CHECK(w.path() == path);
    w.add_scalar("train/loss", 0.2, 4);
  }
  CHECK(training::event_steps(path) == std::vector<int64_t>{0, 1, 2, 3, 4});
  // a torn last record (a run killed mid-write) is an error naming the file and the byte
  const auto size = fs::file_size(path);
  fs::resize_file(path, size - 3);
  CHECK_ERROR_HAS(training::event_steps(path), "truncated record at byte");
  {
    training::SummaryWriter w(dir, 10);  // resuming after such a kill keeps the whole records before it
  }
  CHECK(training::event_steps(path) == std::vector<int64_t>{0, 1, 2, 3});
  fs::remove_all(dir);
}
