#pragma once
// Every differentiable op, in one catalog. Free functions, numpy broadcasting for binary ops, f32 and
// f64 (mixed operands promote to f64); each returns a contiguous tensor (new storage, except reshape and
// the ops built on it, which share their input's) and records its backward when an input requires grad. Forward and backward of each op sit together in ops/<family>.cpp.
// Shapes and dims are taken as IntList (dtype.h): a Shape or a braced list such as {b, -1}.
// i64 tensors (labels, indices) take part as torch's do: add, sub, mul, remainder, comparisons,
// maximum/minimum, neg, abs, sum, max/min/argmax stay exact integers; division, and any float operand,
// give floats; they never require grad.
#include <span>
#include <vector>

#include "random.h"
#include "tape.h"
#include "tensor.h"

namespace elbo {

// ---- elementwise binary (ops/binary.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);    // a > 0 where b is not an integer
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient goes to the larger (a on ties)
Tensor minimum(const Tensor& a, const Tensor& b);
// comparisons: masks of 0/1 in the promoted dtype, never differentiable
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// where(cond, a, b): a where cond != 0, else b; all three broadcast
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& a);
// a - floor(a / b) * b, with the divisor's sign (torch.remainder); exact for two i64 operands
Tensor remainder(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, double b);
Tensor operator%(const Tensor& a, const Tensor& b);
Tensor operator%(const Tensor& a, double b);

// ---- elementwise unary (ops/unary.cpp) ----
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor abs(const Tensor& x);          // gradient sign(x), 0 at 0
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);         // gradient 0 at 0, as torch
Tensor softplus(const Tensor& x);     // log(1 + e^x), stable
Tensor log_sigmoid(const Tensor& x);  // -softplus(-x), stable
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor clamp(const Tensor& x, double lo, double hi);  // gradient 1 inside [lo, hi], 0 outside
Tensor sign(const Tensor& x);                         // not differentiable
Tensor erf(const Tensor& x);     // d/dx = 2/sqrt(pi) exp(-x^2)
Tensor erfinv(const Tensor& y);  // y in [-1, 1] (NaN outside, +-inf at +-1); d/dy = sqrt(pi)/2 exp(erfinv(y)^2)

// ---- normalization and activation composites (ops/norm.cpp); gradients from the ops they are made of ----
Tensor gelu(const Tensor& x, bool tanh_approximation = false);  // x Phi(x); or torch's approximate="tanh"
Tensor silu(const Tensor& x);                                   // x sigmoid(x)
// (x - mean) / sqrt(var + eps) * weight + bias over the last normalized_shape.size() dims (biased variance);
// weight and bias have normalized_shape, or are undefined. As torch.nn.functional.layer_norm.
Tensor layer_norm(const Tensor& x, IntList normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// As torch.nn.functional.batch_norm over x [N, C, ...] (statistics per channel C): training uses the
// batch's mean and biased variance and, when running_mean/var are defined, updates them in place with
// momentum (running_var from the unbiased variance); otherwise the running statistics normalize.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// Rows of weight [num, dim] at the i64 indices: [*indices.shape, dim] (the gradient adds into the rows).
Tensor embedding(const Tensor& indices, const Tensor& weight);
// The straight-through estimator (van den Oord et al. 2017): the value of z_q with the gradient of z_e,
// z_e + detach(z_q - z_e); z_q receives no gradient. Same shape and dtype.
Tensor straight_through(const Tensor& z_e, const Tensor& z_q);

// ---- reductions (ops/reduce.cpp); dims may be negative ----
Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, IntList dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, IntList dims, bool keepdim = false);
Tensor max(const Tensor& x, int64_t dim, bool keepdim = false);  // values; gradient to the first argmax
Tensor min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);  // i64
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);  // i64
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// Sums a broadcast gradient back to `shape` (the adjoint of broadcasting).
Tensor sum_to(const Tensor& x, IntList shape);
// How many elements of a floating tensor are not in [lo, hi] (NaN never is): one SIMD pass, no graph.
// Validation's check, e.g. count_outside(p, 0, 1) == 0 for probabilities.
int64_t count_outside(const Tensor& x, double lo, double hi);

// ---- linear algebra (ops/matmul.cpp) ----
// 1-D, 2-D or batched (..., n, k) @ (..., k, m) with broadcast batch dims, as torch.matmul.
Tensor matmul(const Tensor& a, const Tensor& b);
// x @ w^T + b, as torch.nn.functional.linear: x [..., in], w [out, in], b [out] or undefined; one dtype.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b = Tensor());

// ---- linear algebra on the last two dims, batched (ops/linalg.cpp); backward differentiable again ----
Tensor diagonal(const Tensor& x);              // [..., r, c] -> [..., min(r, c)], torch.diagonal(x, 0, -2, -1)
Tensor diag_embed(const Tensor& v);            // [..., n] -> [..., n, n] with v on the diagonal
Tensor tril(const Tensor& x, int64_t k = 0);   // zeros above diagonal k
Tensor triu(const Tensor& x, int64_t k = 0);   // zeros below diagonal k
// Lower L with L L^T = a, for symmetric positive-definite a [..., n, n] (reads a's lower triangle; the
// gradient is symmetric, as torch.linalg.cholesky's). A matrix that is not positive definite is an error.
Tensor cholesky(const Tensor& a);
// X with A X = B for triangular A [..., n, n] (upper, or lower) and B [..., n, k], batch dims broadcast:
// torch.linalg.solve_triangular(A, B, upper=upper). Only A's triangle is read.
Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper);

// ---- convolution (ops/conv.cpp), NCHW, as torch.nn.functional; operands share one dtype (as linear) ----
// x [N, C, H, W], w [O, C, kh, kw], b [O] or undefined -> [N, O, H', W'].
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), int64_t stride = 1, int64_t padding = 0);
// x [N, C, H, W], w [C, O, kh, kw], b [O] or undefined -> [N, O, H', W'],
// H' = (H - 1) * stride - 2 * padding + kh + output_padding.
Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b = Tensor(), int64_t stride = 1,
                        int64_t padding = 0, int64_t output_padding = 0);

// ---- recurrence (ops/recurrent.cpp) ----
// One direction of a GRU or LSTM layer over a batch of variable-length sequences, fused over time: one
// node on the tape, one GEMM with W_hh per time step over the sequences still running (sorted by
// length, as torch's packed sequences), no allocation per step. xp: the input projections
// x W_ih^T + b_ih, [T, B, G] ([B, T, G] with batch_first), G = 3H (GRU, gates r|z|n) or 4H (LSTM,
// i|f|g|o); h0 and c0 (LSTM only) [B, H]; w_hh [G, H]; b_hh [G] or undefined; lengths: B values in
// [1, T], or empty for all T. Returns [(T + S) * B, H]: the outputs h_t, rows in xp's layout (zero after
// each sequence's end), then S blocks of B rows with the final states, each sequence's own at its last
// element: h_n (and c_n for LSTM). reverse runs each sequence from its last element to its first (the
// second direction of a bidirectional layer).
enum class RecurrentCell { gru, lstm };
Tensor recurrent_scan(RecurrentCell cell, const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                      const Tensor& b_hh, std::span<const int64_t> lengths, bool reverse, bool batch_first);

// ---- shape (ops/shape.cpp) ----
Tensor reshape(const Tensor& x, IntList shape);  // one dim may be -1
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor expand(const Tensor& x, IntList shape);  // broadcast to shape (copies)
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, IntList dims);
// cat and stack take a vector, a braced list or any span of tensors (the last two never allocate).
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor cat(std::initializer_list<Tensor> xs, int64_t dim);
Tensor cat(std::span<const Tensor> xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(std::initializer_list<Tensor> xs, int64_t dim);
Tensor stack(std::span<const Tensor> xs, int64_t dim);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);        // index: i64, as torch.gather
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: 1-D i64
Tensor one_hot(const Tensor& index, int64_t num_classes, DType dtype = DType::f32);

// ---- indexing and splitting (ops/index.cpp), as torch; index tensors are i64, negative indices count back ----
Tensor select(const Tensor& x, int64_t dim, int64_t index);                  // dim removed
std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim = 0);   // parts of `size` (the last may be shorter)
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0); // at most `chunks` parts
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);                // select of every index
Tensor flip(const Tensor& x, IntList dims);
Tensor repeat(const Tensor& x, IntList repeats);                             // tiles: [a, b] x (2, 3) -> [2a, 3b]
Tensor repeat_interleave(const Tensor& x, int64_t repeats, int64_t dim);     // each element `repeats` times
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);       // value where mask != 0
// y = x with source added at index along dim (1-D index; repeated indices accumulate); grads to x and source
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
// y = x with source[e] added at x[... index[e] ...] (index replaces the coordinate of dim), as torch.scatter_add
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);

// ---- losses (ops/loss.cpp) ----
// batchmean: the sum divided by the batch size (dim 0), torch's kl_div(reduction='batchmean'): the KL per example
enum class Reduction { none, sum, mean, batchmean };
// Stable for any logit: max(x, 0) - x * t + log1p(exp(-|x|)), as torch.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::mean);
// binary_cross_entropy_with_logits(logits, target, Reduction::none) summed over the last n dims (a
// Bernoulli likelihood's log-density per example, negated), row by row without the elementwise loss
// tensor; its gradient is one pass too. logits and target: one shape.
Tensor binary_cross_entropy_with_logits_sum(const Tensor& logits, const Tensor& target, int64_t n);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target); beta = 0 is l1_loss
Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean, double beta = 1.0);
// target (log_target: exp(target)) times (log target - input), input being log-probabilities; 0 where target
// is 0. mean averages every element, as torch's reduction='mean'; batchmean is the KL per example.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean, bool log_target = false);
// Class-index losses, as torch: input [N, C] or [N, C, d1, ...] (classes on dim 1), target i64 [N] or
// [N, d1, ...] with values in [0, C) or ignore_index (which contributes 0 and is left out of the mean).
// weight: [C] per-class weights (undefined: all 1); mean divides by the summed weights of the targets.
struct NllLossOptions {
  Tensor weight{};  // [C] per-class weights; undefined: all 1
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
};
struct CrossEntropyOptions {
  Tensor weight{};  // [C] per-class weights; undefined: all 1
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;
  double label_smoothing = 0.0;  // in [0, 1]: the target is (1 - s) one-hot + s / C uniform
};
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, const NllLossOptions& options = {});
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});

// ---- random (ops/creation.cpp); never differentiable ----
Tensor randn(IntList shape, Generator& gen, DType dtype = DType::f32);
Tensor rand(IntList shape, Generator& gen, DType dtype = DType::f32);  // uniform [0, 1)
Tensor bernoulli(const Tensor& probs, Generator& gen);                         // 0/1, probs' dtype
// Draws num_samples class indices per row of probs [..., K] (unnormalized weights >= 0). i64 result
// [..., num_samples]. Without replacement needs num_samples <= K positive weights.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator& gen);
// One index per row from unnormalized log-probabilities [..., K] (Gumbel-max): i64 [...].
Tensor categorical(const Tensor& logits, Generator& gen);

}  // namespace elbo
