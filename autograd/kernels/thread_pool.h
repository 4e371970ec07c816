#pragma once
// A persistent thread pool for the kernel layer. The calling thread takes part; workers spin briefly
// before sleeping, so back-to-back kernels do not pay a wake-up each. Work is split into contiguous
// chunks with a minimum size (grain), so small ops stay on one thread. Not reentrant: a task that calls
// parallel_for runs it serially.
#include <cstdint>
#include <type_traits>
#include <utility>

namespace elbo::kernels {

int num_threads();
void set_num_threads(int n);  // n >= 1; default: ELBO_NUM_THREADS or the hardware thread count

// The process-wide denormal mode (elbo::set_flush_denormal). parallel_tasks and parallel_for bring the
// calling thread and every worker that runs a task to the current mode first.
bool set_flush_denormal(bool on);
bool flush_denormal();
void sync_denormal_mode();

// A non-owning reference to a callable (no allocation).
template <class Sig> class FunctionRef;
template <class R, class... Args> class FunctionRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                              std::is_invocable_r_v<R, F&, Args...>>>
  FunctionRef(F&& f) : obj_((void*)&f), call_([](void* o, Args... a) -> R { return (*(std::remove_reference_t<F>*)o)(std::forward<Args>(a)...); }) {}
  R operator()(Args... a) const { return call_(obj_, std::forward<Args>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

// Runs fn(task) for task in [0, ntasks) across the pool; returns when all are done. Tasks are claimed one
// at a time, so a thread that is descheduled holds up at most the task it is running.
void parallel_tasks(int64_t ntasks, FunctionRef<void(int64_t)> fn);
// As parallel_tasks, also passing the index of the running thread, in [0, num_threads()): for per-thread
// scratch. Which thread runs a task varies from run to run; results must not depend on it.
void parallel_tasks(int64_t ntasks, FunctionRef<void(int64_t task, int thread)> fn);

// Splits [0, n) into at most num_threads() chunks of at least `grain` items: fn(begin, end).
void parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

}  // namespace elbo::kernels
