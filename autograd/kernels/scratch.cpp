#include "scratch.h"

#include <cstdlib>
#include <new>

namespace elbo::kernels {
namespace {

struct Buffers {
  void* p[int(Scratch::count)] = {};
  size_t bytes[int(Scratch::count)] = {};
  Buffers() = default;
  Buffers(const Buffers&) = delete;
  Buffers& operator=(const Buffers&) = delete;
  ~Buffers() {
    for (void* q : p) std::free(q);
  }
};

}  // namespace

void* scratch_bytes(Scratch purpose, size_t bytes) {
  static thread_local Buffers b;
  const int i = int(purpose);
  if (bytes > b.bytes[i]) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* q = std::aligned_alloc(64, rounded);
    if (!q) throw std::bad_alloc();
    std::free(b.p[i]);
    b.p[i] = q;
    b.bytes[i] = rounded;
  }
  return b.p[i];
}

}  // namespace elbo::kernels
