#include "autograd/allocator.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace elbo::detail {
namespace {

constexpr size_t kMin = 64;

// Rounds n up to 2^k * {4, 5, 6, 7} / 4 (n >= 64); returns the class index and the rounded size.
// The mapping is idempotent (size_class(rounded) gives the same class), which release relies on.
std::pair<size_t, size_t> size_class(size_t n) {
  if (n <= kMin) return {0, kMin};
  const int k = std::bit_width(n - 1) - 1;  // 2^k < n <= 2^(k+1)
  const size_t base = size_t(1) << k, quarter = std::max<size_t>(base / 4, 64);
  const size_t steps = (n - base + quarter - 1) / quarter;  // 1..4 (or more when quarter was clamped)
  const size_t rounded = base + steps * quarter;
  return {size_t(k) * 8 + steps, rounded};
}

struct Cache {
  std::mutex mu;
  std::vector<std::vector<void*>> lists = std::vector<std::vector<void*>>(64 * 8 + 64);
  size_t cached = 0, limit = 0, system = 0;
  bool enabled = true;
  Cache() {
    enabled = caching_enabled();
    const char* mb = std::getenv("ELBO_CACHE_MB");
    limit = size_t(mb ? std::atoll(mb) : 2048) << 20;
  }
  ~Cache() {  // at exit: give everything back, so leak checkers see a clean heap
    for (auto& l : lists)
      for (void* p : l) std::free(p);
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

}  // namespace

bool caching_enabled() {
  static const bool on = [] {
    const char* off = std::getenv("ELBO_NO_CACHE");
    return !(off && std::string(off) == "1");
  }();
  return on;
}

void* allocate(size_t n, size_t& capacity) {
  Cache& c = cache();
  const auto [cls, rounded] = size_class(n);
  capacity = rounded;
  if (c.enabled) {
    std::lock_guard<std::mutex> lk(c.mu);
    auto& l = c.lists[cls];
    if (!l.empty()) {
      void* p = l.back();
      l.pop_back();
      c.cached -= rounded;
      return p;
    }
  }
  void* p = std::aligned_alloc(64, rounded);
  if (p) {
    std::lock_guard<std::mutex> lk(c.mu);
    ++c.system;
  }
  return p;
}

void release(void* p, size_t capacity) {
  if (!p) return;
  Cache& c = cache();
  if (c.enabled) {
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.cached + capacity <= c.limit) {
      c.lists[size_class(capacity).first].push_back(p);
      c.cached += capacity;
      return;
    }
  }
  std::free(p);
}

namespace {
constexpr size_t kGrain = 16, kMaxSmall = 1024, kClasses = kMaxSmall / kGrain;
constexpr size_t kListBytes = size_t(1) << 20;

std::atomic<size_t> g_small_system{0};

struct FreeBlock {
  FreeBlock* next;
};
// This thread's free lists. `gone` is trivially destructible, so a release that runs during thread exit,
// after the lists were destroyed, still reads it and hands its block to the system.
thread_local bool t_small_gone = false;
struct SmallLists {
  FreeBlock* head[kClasses] = {};
  size_t count[kClasses] = {};
  ~SmallLists() {
    for (FreeBlock* h : head)
      while (h) ::operator delete(std::exchange(h, h->next));
    t_small_gone = true;
  }
};
thread_local SmallLists t_small;

size_t small_class(size_t n) { return n == 0 ? 0 : (n - 1) / kGrain; }
}  // namespace

void* small_allocate(size_t n) {
  const size_t c = small_class(n);
  if (c < kClasses && caching_enabled() && !t_small_gone) {
    SmallLists& l = t_small;
    if (FreeBlock* b = l.head[c]) {
      l.head[c] = b->next;
      --l.count[c];
      return b;
    }
    g_small_system.fetch_add(1, std::memory_order_relaxed);
    return ::operator new((c + 1) * kGrain);
  }
  // The whole class even with the lists off or gone: the block may be released into a live thread's list.
  g_small_system.fetch_add(1, std::memory_order_relaxed);
  return ::operator new(c < kClasses ? (c + 1) * kGrain : n);
}

void small_release(void* p, size_t n) noexcept {
  if (!p) return;
  const size_t c = small_class(n);
  if (c < kClasses && caching_enabled() && !t_small_gone) {
    SmallLists& l = t_small;
    if ((l.count[c] + 1) * (c + 1) * kGrain <= kListBytes) {
      l.head[c] = new (p) FreeBlock{l.head[c]};
      ++l.count[c];
      return;
    }
  }
  ::operator delete(p);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return {c.system, c.cached, g_small_system.load(std::memory_order_relaxed)};
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  for (auto& l : c.lists) {
    for (void* p : l) std::free(p);
    l.clear();
  }
  c.cached = 0;
}

}  // namespace elbo::detail
