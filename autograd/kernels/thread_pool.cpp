#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define ELBO_HAVE_MXCSR 1
#endif

namespace elbo::kernels {
namespace {

thread_local bool in_pool_task = false;
thread_local int t_thread_index = 0;  // 0 for the calling thread, 1.. for the workers

std::atomic<bool> g_flush{false};
thread_local bool t_flush = false;  // the mode this thread's MXCSR holds

void apply_flush(bool on) {
#ifdef ELBO_HAVE_MXCSR
  constexpr unsigned ftz_daz = 0x8040;  // flush-to-zero (bit 15), denormals-are-zero (bit 6)
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(on ? (csr | ftz_daz) : (csr & ~ftz_daz));
#endif
  t_flush = on;
}

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    stopping_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] {
      t_thread_index = i;
      work();
    });
  }

  void run(int64_t ntasks, FunctionRef<void(int64_t)> fn) {
    std::lock_guard<std::mutex> run_lock(run_mu_);  // one job at a time
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      ntasks_ = ntasks;
      next_.store(0);
      done_.store(0);
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    drain();
    while (done_.load(std::memory_order_acquire) < ntasks) std::this_thread::yield();
    std::lock_guard<std::mutex> lk(mu_);
    fn_ = nullptr;
  }

 private:
  void drain() {
    sync_denormal_mode();
    in_pool_task = true;
    for (int64_t t; (t = next_.fetch_add(1)) < ntasks_;) {
      (*fn_)(t);
      done_.fetch_add(1, std::memory_order_release);
    }
    in_pool_task = false;
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      // Spin a little for the next job before sleeping: kernels come in quick succession.
      for (int spin = 0; spin < 2000 && generation_.load(std::memory_order_acquire) == seen && !stopping_; ++spin)
        std::this_thread::yield();
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || generation_.load() != seen; });
      if (stopping_) return;
      seen = generation_.load();
      if (!fn_) continue;
      lk.unlock();
      drain();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, run_mu_;
  std::condition_variable cv_;
  FunctionRef<void(int64_t)>* fn_ = nullptr;
  int64_t ntasks_ = 0;
  std::atomic<int64_t> next_{0}, done_{0};
  std::atomic<uint64_t> generation_{0};
  bool stopping_ = false;
};

int default_threads() {
  if (const char* env = std::getenv("ELBO_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool p(default_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

bool set_flush_denormal(bool on) {
#ifdef ELBO_HAVE_MXCSR
  g_flush.store(on, std::memory_order_relaxed);
  apply_flush(on);
  return true;
#else
  (void)on;
  return false;
#endif
}

bool flush_denormal() { return g_flush.load(std::memory_order_relaxed); }

void sync_denormal_mode() {
  if (const bool on = g_flush.load(std::memory_order_relaxed); on != t_flush) apply_flush(on);
}

void set_num_threads(int n) {
  n = std::max(1, n);
  if (n != pool().size()) pool().resize(n);
}

void parallel_tasks(int64_t ntasks, FunctionRef<void(int64_t)> fn) {
  if (ntasks <= 0) return;
  sync_denormal_mode();
  if (ntasks == 1 || in_pool_task || pool().size() == 1) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  pool().run(ntasks, fn);
}

void parallel_tasks(int64_t ntasks, FunctionRef<void(int64_t, int)> fn) {
  parallel_tasks(ntasks, [&](int64_t t) { fn(t, t_thread_index); });
}

void parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  sync_denormal_mode();
  const int64_t chunks = std::min<int64_t>(num_threads(), std::max<int64_t>(1, n / std::max<int64_t>(grain, 1)));
  if (chunks <= 1) return fn(0, n);
  parallel_tasks(chunks, [&](int64_t t) { fn(n * t / chunks, n * (t + 1) / chunks); });
}

}  // namespace elbo::kernels

namespace elbo {
void set_num_threads(int n) { kernels::set_num_threads(n); }
int num_threads() { return kernels::num_threads(); }
bool set_flush_denormal(bool on) { return kernels::set_flush_denormal(on); }
bool flush_denormal() { return kernels::flush_denormal(); }
}  // namespace elbo
