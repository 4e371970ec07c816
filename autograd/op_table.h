#pragma once
// Every op of the library that records a node, declared once: the name its nodes carry and whether its
// backward can itself be differentiated (create_graph). An op records with its constant from here,
// record(op::exp, ...), so the node carries the property; autograd::double_backward_ops() lists the table's
// `repeatedly` rows. A backward declared `repeatedly` must be made of recorded ops only (the backward of
// sigmoid is the op sigmoid_backward, itself recorded, as in torch); backward checks this under create_graph.
// A user's own op records with an Op of its own, `once` unless its backward is written with recorded ops.
#include <cstdint>
#include <span>

namespace elbo {

enum class Differentiable : uint8_t {
  once,        // the backward runs kernels that record nothing: first derivatives only
  repeatedly,  // the backward is made of recorded ops, so create_graph can differentiate it again
};

struct Op {
  const char* name = "";
  Differentiable backward = Differentiable::once;
};

// X(identifier, node name, differentiable). Grouped by the file that defines the op; the *_backward rows
// (and mm, take, put_add) are the backward formulas of others, recorded as ops.
#define ELBO_RECORDED_OPS(X)                                                                                    \
  /* ops/unary.cpp */                                                                                          \
  X(neg, "neg", repeatedly) X(exp, "exp", repeatedly) X(log, "log", repeatedly) X(log1p, "log1p", repeatedly)   \
  X(expm1, "expm1", repeatedly) X(sqrt, "sqrt", repeatedly) X(square, "square", repeatedly)                     \
  X(abs, "abs", repeatedly) X(sigmoid, "sigmoid", repeatedly) X(tanh, "tanh", repeatedly)                       \
  X(relu, "relu", repeatedly) X(softplus, "softplus", repeatedly) X(log_sigmoid, "log_sigmoid", repeatedly)     \
  X(elu, "elu", repeatedly) X(leaky_relu, "leaky_relu", repeatedly) X(clamp, "clamp", repeatedly)               \
  X(erf, "erf", repeatedly) X(erfinv, "erfinv", repeatedly)                                                     \
  X(sigmoid_backward, "sigmoid_backward", repeatedly) X(tanh_backward, "tanh_backward", repeatedly)             \
  X(relu_backward, "relu_backward", repeatedly)                                                                 \
  /* ops/binary.cpp, ops/integer.cpp */                                                                         \
  X(add, "add", repeatedly) X(sub, "sub", repeatedly) X(mul, "mul", repeatedly) X(div, "div", repeatedly)       \
  X(pow, "pow", repeatedly) X(maximum, "maximum", repeatedly) X(minimum, "minimum", repeatedly)                 \
  X(where, "where", repeatedly) X(remainder, "remainder", repeatedly)                                           \
  /* ops/reduce.cpp */                                                                                         \
  X(sum, "sum", repeatedly) X(max, "max", repeatedly) X(min, "min", repeatedly)                                 \
  X(logsumexp, "logsumexp", repeatedly)                                                                         \
  /* ops/matmul.cpp */                                                                                         \
  X(matmul, "matmul", repeatedly) X(linear, "linear", repeatedly) X(mm, "mm", repeatedly)                       \
  /* ops/loss.cpp */                                                                                           \
  X(bce_logits, "binary_cross_entropy_with_logits", repeatedly)                                                 \
  X(bce_logits_backward, "binary_cross_entropy_with_logits_backward", repeatedly)                               \
  X(bce_logits_sum, "binary_cross_entropy_with_logits_sum", repeatedly)                                         \
  X(bce_logits_sum_backward, "binary_cross_entropy_with_logits_sum_backward", repeatedly)                       \
  /* ops/shape.cpp */                                                                                          \
  X(reshape, "reshape", repeatedly) X(expand, "expand", repeatedly) X(permute, "permute", repeatedly)           \
  X(cat, "cat", repeatedly) X(narrow, "narrow", repeatedly) X(narrow_backward, "narrow_backward", repeatedly)   \
  X(gather, "gather", repeatedly) X(index_select, "index_select", repeatedly) X(clone, "clone", repeatedly)     \
  X(index_select_backward, "index_select_backward", repeatedly)                                                 \
  X(to, "to", repeatedly) X(take, "take", repeatedly) X(put_add, "put_add", repeatedly)                         \
  /* ops/index.cpp */                                                                                          \
  X(index_add, "index_add", repeatedly) X(scatter_add, "scatter_add", repeatedly)                               \
  /* ops/linalg.cpp */                                                                                         \
  X(diagonal, "diagonal", repeatedly) X(diag_embed, "diag_embed", repeatedly) X(tril, "tril", repeatedly)       \
  X(triu, "triu", repeatedly) X(cholesky, "cholesky", repeatedly)                                               \
  X(solve_triangular, "solve_triangular", repeatedly)                                                           \
  /* ops/conv.cpp, ops/recurrent.cpp: fused backward kernels */                                                \
  X(conv2d, "conv2d", once) X(conv_transpose2d, "conv_transpose2d", once) X(lstm_scan, "lstm_scan", once)       \
  X(gru_scan, "gru_scan", once)

namespace op {
#define ELBO_DECLARE_OP(id, name, d) inline constexpr Op id{name, Differentiable::d};
ELBO_RECORDED_OPS(ELBO_DECLARE_OP)
#undef ELBO_DECLARE_OP
}  // namespace op

// The whole table, in its order.
std::span<const Op> recorded_ops();

}  // namespace elbo
