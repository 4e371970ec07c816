#pragma once
// The backward formulas that are ops of their own, as torch's *_backward functions: each runs the fused
// kernel the ordinary backward pass wants and records a backward of its own, so one formula serves both
// the ordinary pass and create_graph (op_table.h). Ops call them from their closures; the tests
// gradgradcheck each directly.
#include "autograd/ops.h"

namespace elbo::detail {

Tensor sigmoid_backward(const Tensor& gy, const Tensor& y);  // gy y (1 - y), y = sigmoid(x)
Tensor tanh_backward(const Tensor& gy, const Tensor& y);     // gy (1 - y^2), y = tanh(x)
Tensor relu_backward(const Tensor& gy, const Tensor& y);     // gy [y > 0], y = relu(x)
// d binary_cross_entropy_with_logits(x, t) / dx, scaled: gy (sigmoid(x) - t), all three of x's shape
Tensor bce_logits_backward(const Tensor& gy, const Tensor& x, const Tensor& t);
// The same for the row sums of binary_cross_entropy_with_logits_sum: gy holds one gradient per row (the
// leading dims of x), the row being x's last numel(x) / numel(gy) elements.
Tensor bce_logits_sum_backward(const Tensor& gy, const Tensor& x, const Tensor& t);
// op(a) @ op(b) over the last two dims (op = transpose where the flag is set) on the blocked GEMM, no
// transpose materialized; a and b have the same batch dims.
Tensor mm(const Tensor& a, bool ta, const Tensor& b, bool tb);
// narrow's adjoint: zeros of `shape` holding gy at [start, start + gy.size(dim)) of dim.
Tensor narrow_backward(const Tensor& gy, IntList shape, int64_t dim, int64_t start);
// index_select's adjoint: zeros of `shape` with gy's slices added at rows[i] of dim (rows: i64, in range).
Tensor index_select_backward(const Tensor& gy, const Tensor& rows, IntList shape, int64_t dim);
// Flat positions (an i64 tensor of in-range offsets, not checked again): take reads y[e] = x.flat[pos[e]]
// into `shape`; put_add, its adjoint, adds src.flat[e] into zeros of `shape` at pos[e] (repeats add up).
Tensor take(const Tensor& x, const Tensor& pos, IntList shape);
Tensor put_add(const Tensor& src, const Tensor& pos, IntList shape);

}  // namespace elbo::detail
