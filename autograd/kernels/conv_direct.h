#pragma once
// Internal to the kernel layer: direct convolution for few channels (conv_direct.cpp), which conv.cpp
// picks when a GEMM tile would waste most of its columns. The SIMD lanes run along image rows; the image
// is split into stride x stride phases so that each tap reads a contiguous shifted row. Same contracts as
// the kernels.h entry points; `work` holds direct_workspace(g, itemsize) elements (64-byte aligned).
#include <cstddef>
#include <cstdint>

#include "table.h"

namespace elbo::kernels::direct {

constexpr int64_t kMaxK = 256;  // (channel, tap) pairs per output pixel that the direct paths take

// Whether the direct path suits this pass (the decision reads the instruction set's lane count).
bool forward_fits(const ConvGeom& g, int64_t lanes);
bool input_grad_fits(const ConvGeom& g, int64_t lanes);
bool weight_grad_fits(const ConvGeom& g, int64_t lanes);
int64_t workspace(const ConvGeom& g, size_t itemsize);

template <class T> void forward(const Table<T>& tb, const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, T* work);
template <class T>
void input_grad(const Table<T>& tb, const ConvGeom& g, const T* y, const T* w, const T* bias, T* x, T* work);
template <class T> void weight_grad(const Table<T>& tb, const ConvGeom& g, const T* x, const T* gy, T* gw, T* work);

}  // namespace elbo::kernels::direct
