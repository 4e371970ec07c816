#pragma once
// A caching allocator for tensor storage. Sizes are rounded up to one of four classes per power of two
// (so at most 25% waste), freed blocks are kept in per-class free lists and handed out again, so a
// training loop's steady state makes no calls to the system allocator for tensor data. Blocks are 64-byte
// aligned. The cache holds at most ELBO_CACHE_MB megabytes (default 2048); ELBO_NO_CACHE=1 turns it off
// (every block goes straight back to the system, which suits leak checkers).
#include <cstddef>

namespace elbo::detail {

// Returns a block of at least n bytes; `capacity` receives its real size (pass it back to release).
void* allocate(size_t n, size_t& capacity);
void release(void* p, size_t capacity);

struct AllocatorStats {
  size_t system_allocations;  // calls that reached the system allocator
  size_t cached_bytes;        // bytes held in the free lists
};
AllocatorStats allocator_stats();
void empty_cache();  // returns every cached block to the system

}  // namespace elbo::detail
