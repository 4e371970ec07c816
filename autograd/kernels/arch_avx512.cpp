// AVX-512 kernels; compiled with -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl, run only when the
// CPU has all five (dispatch.cpp).
#define ELBO_ARCH_TYPE xsimd::avx512f
#define ELBO_ARCH_NAME "avx512"
#define ELBO_TABLES_FN tables_avx512
#include "arch.inc"
