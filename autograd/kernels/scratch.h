#pragma once
// Internal: the kernels' one source of scratch memory. Each thread keeps one buffer per purpose, 64-byte
// aligned, grown to the largest request it has seen and kept, so a steady training loop allocates nothing
// here after its first steps. A buffer is valid until the same thread asks for the same purpose again.
// Growing it is the only way a kernel can fail: std::bad_alloc.
#include <cstddef>

namespace elbo::kernels {

enum class Scratch : int {
  gemm_a,           // the GEMM's packed block of op(A)
  gemm_b,           // its packed panel of op(B)
  gemm_transposed,  // C^T of a GEMM computed the other way round
  sum_partials,     // the block sums of a long sum
  count
};

void* scratch_bytes(Scratch purpose, size_t bytes);
template <class T> T* scratch(Scratch purpose, size_t n) { return static_cast<T*>(scratch_bytes(purpose, n * sizeof(T))); }

}  // namespace elbo::kernels
