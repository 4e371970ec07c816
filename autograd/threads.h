#pragma once
// Threads used by large kernels. Default: ELBO_NUM_THREADS if set, else the hardware thread count.
// Results do not depend on the thread count beyond what each kernel documents (GEMM and elementwise ops
// are identical for any count; sums use fixed blocks).
namespace elbo {
void set_num_threads(int n);
int num_threads();
}  // namespace elbo
