// AVX2 + FMA kernels; compiled with -mavx2 -mfma, run only when the CPU has both.
#define ELBO_ARCH_TYPE xsimd::fma3<xsimd::avx2>
#define ELBO_ARCH_NAME "avx2"
#define ELBO_TABLES_FN tables_avx2
#include "arch.inc"
