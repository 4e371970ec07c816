#pragma once
// Scalar twins of the SIMD kernels: the plain definition of each, for tests to compare against.
#include <cstdint>
#include <span>

#include "kernels.h"

namespace elbo::kernels::ref {

template <class T> T unary_one(Unary op, T x, T p0, T p1);
template <class T> T binary_one(Binary op, T a, T b);
template <class T> void unary(Unary op, std::span<const T> x, std::span<T> y, T p0 = 0, T p1 = 0);
template <class T> void binary(Binary op, std::span<const T> a, std::span<const T> b, std::span<T> y);
template <class T> T sum(std::span<const T> x);  // accumulated in long double
template <class T> int64_t count_outside(std::span<const T> x, T lo, T hi);
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const T* bias = nullptr);

// Convolution straight from the definitions in kernels.h, accumulated in long double (no workspace).
template <class T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y);
template <class T> void conv_input_grad(const ConvGeom& g, const T* y, const T* w, const T* bias, T* x);
template <class T> void conv_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* gw);

template <class T> void adam(const AdamParams& a, T* p, const T* g, T* m, T* v, T* vmax, int64_t n);

// The forwarded kernels of kernels.h (the recurrent cells, one element at a time with std::exp and
// std::tanh), declared from its list.
ELBO_FORWARDED_KERNELS(ELBO_DECLARE_KERNEL, T)

}  // namespace elbo::kernels::ref
