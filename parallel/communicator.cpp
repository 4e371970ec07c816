#include "parallel/communicator.h"

#include <atomic>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace elbo::parallel {

Pending::Pending(Pending&& o) noexcept : impl_(std::move(o.impl_)) {}
Pending& Pending::operator=(Pending&& o) noexcept {
  if (this != &o) {
    try {
      wait();
    } catch (...) {  // a move-assignment cannot throw; the timeout reaches whoever waits next
    }
    impl_ = std::move(o.impl_);
  }
  return *this;
}
Pending::~Pending() {
  try {
    wait();
  } catch (...) {  // never throw from a destructor; the job is being torn down
  }
}

void Pending::wait() {
  if (!impl_) return;
  const auto start = std::chrono::steady_clock::now();
  const auto limit = timeout();
  int spins = 0;
  while (!impl_->test()) {
    if (std::chrono::steady_clock::now() - start > limit) {
      const std::string what = impl_->what();
      impl_.reset();
      throw TimeoutError(fmt::format("{} did not finish within {:.0f} s (ELBO_MPI_TIMEOUT): another rank stopped "
                                     "answering or died", what, limit.count()));
    }
    if (++spins > 1000) std::this_thread::yield();  // spin, then let another thread of this core run
  }
  impl_->finish();
  impl_.reset();
}

namespace {
std::atomic<double>& deadline() {
  static std::atomic<double> seconds = [] {
    const char* t = std::getenv("ELBO_MPI_TIMEOUT");
    const double v = t ? std::atof(t) : 300.0;
    return v > 0 ? v : 300.0;
  }();
  return seconds;
}
}  // namespace

bool Pending::poll() {
  if (!impl_) return true;
  if (!impl_->test()) return false;
  impl_->finish();
  impl_.reset();
  return true;
}

std::chrono::duration<double> timeout() { return std::chrono::duration<double>(deadline().load()); }
void set_timeout(double seconds) {
  ELBO_CHECK_VALUE(seconds > 0, "set_timeout: {} s must be positive", seconds);
  deadline() = seconds;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

namespace {
class Local : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "local"; }
  Pending iall_reduce(std::span<float>, Reduce) override { return {}; }
  Pending iall_reduce(std::span<double>, Reduce) override { return {}; }
  void broadcast(std::span<std::byte>, int root) override {
    ELBO_CHECK(root == 0, "broadcast: root {} outside a one-process job", root);
  }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }
};
}  // namespace

std::unique_ptr<Communicator> make_local() { return std::make_unique<Local>(); }

#ifndef ELBO_HAVE_MPI
bool built_with_mpi() { return false; }
int world_rank() { return 0; }
int world_size() { return 1; }
[[noreturn]] void abort_job(int code) { std::exit(code); }
std::unique_ptr<Communicator> make_world() {
  ELBO_CHECK(!launched_by_mpi() || std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr ||
                 std::string_view(std::getenv("OMPI_COMM_WORLD_SIZE")) == "1",
             "started by mpirun with {} processes, but this elbo was built without MPI (install libopenmpi-dev and "
             "rebuild)", std::getenv("OMPI_COMM_WORLD_SIZE"));
  return make_local();
}
#endif

std::string broadcast_string(Communicator& comm, std::string s, int root) {
  const uint64_t n = broadcast_value<uint64_t>(comm, s.size(), root);
  s.resize(n);
  comm.broadcast(std::as_writable_bytes(std::span<char>(s.data(), s.size())), root);
  return s;
}

}  // namespace elbo::parallel
