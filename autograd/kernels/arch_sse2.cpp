// Baseline x86-64 kernels (SSE2): the portable path every x86-64 CPU runs.
#define ELBO_ARCH_TYPE xsimd::sse2
#define ELBO_ARCH_NAME "sse2"
#define ELBO_TABLES_FN tables_sse2
#include "arch.inc"
