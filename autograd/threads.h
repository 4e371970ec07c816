#pragma once
// Threads used by large kernels. Default: ELBO_NUM_THREADS if set, else the hardware thread count.
// Results do not depend on the thread count beyond what each kernel documents (GEMM and elementwise ops
// are identical for any count; sums use fixed blocks).
namespace elbo {
void set_num_threads(int n);
int num_threads();

// Float arithmetic with subnormal (denormal) numbers flushed to zero: results below 2^-126 in float32
// (2^-1022 in float64) become 0, and such inputs read as 0 (x86's MXCSR flush-to-zero and
// denormals-are-zero). Off by default, as IEEE 754 asks. On x86 an operation that meets a subnormal
// costs a hundred cycles or more, and training can fill whole tensors with them: softmax weights of
// classes a confident classifier rules out, Adam's moments of inputs that are always zero, the
// importance weights of a wide IWAE. The zoo's runs turn it on (training::Options::flush_denormal).
//
// The mode is process-wide: set_flush_denormal applies it to the calling thread at once, and every
// thread that runs elbo kernels (the pool's workers, other callers) takes it up at its next kernel.
// Returns false, changing nothing, where the CPU has no such mode.
bool set_flush_denormal(bool on);
bool flush_denormal();
}  // namespace elbo
