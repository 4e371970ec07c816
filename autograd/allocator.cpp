#include "autograd/allocator.h"

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <string>
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
    const char* off = std::getenv("ELBO_NO_CACHE");
    enabled = !(off && std::string(off) == "1");
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

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return {c.system, c.cached};
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
