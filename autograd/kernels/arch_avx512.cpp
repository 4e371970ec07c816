// AVX-512F kernels; compiled with -mavx512f -mavx512dq..., run only when the CPU has AVX-512F.
#define ELBO_ARCH_TYPE xsimd::avx512f
#define ELBO_ARCH_NAME "avx512"
#define ELBO_TABLES_FN tables_avx512
#include "arch.inc"
