#pragma once
// Two caches keep a training loop's steady state off the system allocator.
//
// Tensor storage: sizes are rounded up to one of four classes per power of two (so at most 25% waste),
// freed blocks are kept in per-class free lists and handed out again. Blocks are 64-byte aligned. The
// cache holds at most ELBO_CACHE_MB megabytes (default 2048).
//
// Small objects (tensor handles, tape nodes, backward closures, shape lists): a step makes hundreds, each
// under a kilobyte. They come from per-thread free lists in 16-byte size classes; a block freed on
// another thread joins that thread's lists, and each list keeps at most 1 MiB.
//
// ELBO_NO_CACHE=1 turns both off (every block goes straight back to the system, which suits leak and
// use-after-free checkers).
#include <cstddef>
#include <new>
#include <vector>

namespace elbo::detail {

// False when ELBO_NO_CACHE=1 (read once).
bool caching_enabled();

// Returns a block of at least n bytes; `capacity` receives its real size (pass it back to release).
void* allocate(size_t n, size_t& capacity);
void release(void* p, size_t capacity);

// Small blocks, aligned for any fundamental type; release with the size given to small_allocate.
void* small_allocate(size_t n);
void small_release(void* p, size_t n) noexcept;

struct AllocatorStats {
  size_t system_allocations;        // storage blocks that came from the system allocator
  size_t cached_bytes;              // storage bytes held in the free lists
  size_t small_system_allocations;  // small blocks that came from the system allocator (all threads)
};
AllocatorStats allocator_stats();
void empty_cache();  // returns every cached storage block to the system

// A standard allocator over small_allocate, for the tape's short-lived containers.
template <class T> struct PoolAllocator {
  static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "PoolAllocator: over-aligned type");
  using value_type = T;
  PoolAllocator() = default;
  template <class U> PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(small_allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) noexcept { small_release(p, n * sizeof(T)); }
  template <class U> bool operator==(const PoolAllocator<U>&) const noexcept { return true; }
};
template <class T> using PooledVector = std::vector<T, PoolAllocator<T>>;

}  // namespace elbo::detail
