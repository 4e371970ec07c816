#pragma once
// Counts every heap allocation of the program that includes this header, the library's included, by
// replacing the global operator new. Include it from exactly one file of a program (replacements cannot
// be inline).
// NOTE: GCC 12 flags the replaced operator new/delete pair as mismatched when it inlines them into other
// code; the pair matches (malloc/free), so the warning is silenced for the including file.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#include <execinfo.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace elbo::testing {
inline std::atomic<int64_t> heap_allocations{0};
// While true (and ELBO_TRACE_ALLOCATIONS=1 in the environment), each allocation prints its call stack to
// stderr: for finding the allocation a step should not make (symbolize with addr2line or gdb).
inline std::atomic<bool> trace_allocations{false};
}  // namespace elbo::testing

void* operator new(size_t n) {
  elbo::testing::heap_allocations.fetch_add(1, std::memory_order_relaxed);
  static const bool tracing = [] {
    const char* t = std::getenv("ELBO_TRACE_ALLOCATIONS");
    return t && t[0] == '1';
  }();
  if (tracing && elbo::testing::trace_allocations.exchange(false)) {
    void* frames[24];
    backtrace_symbols_fd(frames, backtrace(frames, 24), 2);
    elbo::testing::trace_allocations = true;
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
