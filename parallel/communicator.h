#pragma once
// The communicator of data-parallel training: collectives over the processes of one job, on MPI when the
// build found it and the program was started by mpirun (or srun), and a one-process implementation
// otherwise, so every code path runs without mpirun. It sits above nn/ and below the training library.
//
// Every collective that waits does so with a deadline (ELBO_MPI_TIMEOUT seconds, default 300): a rank
// that stops answering ends the job with one line instead of a hang. MPI itself offers no timeout; the
// operations are started non-blocking and polled.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../autograd/error.h"

namespace elbo::parallel {

enum class Reduce { sum, mean };

// A collective that collectives return while it is in flight; wait() finishes it (with the deadline).
class Pending {
 public:
  Pending() = default;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  Pending(Pending&&) noexcept;
  Pending& operator=(Pending&&) noexcept;
  ~Pending();  // waits, if still in flight
  void wait();
  bool poll();  // one test without waiting: true (and done) when it has finished
  bool done() const { return impl_ == nullptr; }

  struct Impl {
    virtual ~Impl() = default;
    virtual bool test() = 0;      // true when finished
    virtual void finish() {}      // after the last successful test (mean: scale)
    virtual std::string what() const = 0;
  };
  explicit Pending(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::unique_ptr<Impl> impl_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "local" or "mpi"

  // In place: data becomes the sum (or mean) of every rank's data; all ranks pass the same length.
  virtual Pending iall_reduce(std::span<float> data, Reduce op) = 0;
  virtual Pending iall_reduce(std::span<double> data, Reduce op) = 0;
  void all_reduce(std::span<float> data, Reduce op) { iall_reduce(data, op).wait(); }
  void all_reduce(std::span<double> data, Reduce op) { iall_reduce(data, op).wait(); }
  // root's bytes to every rank (the same length everywhere).
  virtual void broadcast(std::span<std::byte> data, int root) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job with this exit code (MPI_Abort); the local communicator just exits.
  [[noreturn]] virtual void abort(int code) = 0;
};

// The one-process communicator: collectives are no-ops (a mean over one rank is the data itself).
std::unique_ptr<Communicator> make_local();
// MPI_COMM_WORLD when this build has MPI and the process was started by an MPI launcher (mpirun, srun);
// the local communicator otherwise. MPI is initialized on the first call and finalized at exit.
std::unique_ptr<Communicator> make_world();
bool built_with_mpi();
// True when the environment says an MPI launcher started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK,
// PMI_RANK).
bool launched_by_mpi();

// The deadline of every wait: ELBO_MPI_TIMEOUT (seconds; default 300) unless set_timeout changed it.
std::chrono::duration<double> timeout();
void set_timeout(double seconds);  // > 0

// A rank stopped answering within timeout().
struct TimeoutError : Error {
  using Error::Error;
};

// An error every rank raises alike (a batch the world size does not divide, ranks that disagree, a
// diverged loss, which is global): reported once, by rank 0, and every rank exits cleanly. Any other error
// on one rank ends the whole job (abort_job) after that rank has said what happened.
struct CollectiveError : Error {
  using Error::Error;
};
// This process's rank and the job's size (0 and 1 outside an MPI job).
int world_rank();
int world_size();
// Ends every rank of the job with this exit code (MPI_Abort when MPI is running; exit otherwise).
[[noreturn]] void abort_job(int code);

// Convenience over broadcast for strings and trivially copyable values.
std::string broadcast_string(Communicator& comm, std::string s, int root = 0);
template <class T> T broadcast_value(Communicator& comm, T v, int root = 0) {
  comm.broadcast(std::as_writable_bytes(std::span<T>(&v, 1)), root);
  return v;
}

}  // namespace elbo::parallel
