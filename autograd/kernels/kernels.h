#pragma once
// The kernel layer: plain loops over spans and sizes. Kernels never see Tensor or the tape. Their memory
// policy: a kernel works in the buffers its caller passes (the convolutions' `work`) or in its thread's
// scratch buffers (scratch.h: the GEMM's packing, a long sum's block partials), which grow to the largest
// request and are kept, so in steady state no kernel allocates. The exceptions a kernel can raise:
// std::bad_alloc when a scratch buffer cannot grow, and, on the first call, dispatch.cpp's refusal of an
// ELBO_ARCH this CPU cannot run. Each SIMD kernel is written once in simd.hpp, templated on the xsimd
// architecture, compiled in one translation unit per instruction set (arch_*.cpp) and picked at run
// time (dispatch.cpp) from what the CPU supports, so one binary runs on any x86-64. ref.h holds the
// scalar twins the tests compare against. Threads live here too: large kernels split work over the
// persistent pool (thread_pool.h) into fixed blocks, so results do not depend on the thread count.
#include <cstdint>
#include <span>
#include <string_view>

namespace elbo::kernels {

// y[i] = f(x[i]; p0, p1). Parameters: elu alpha=p0, leaky_relu slope=p0, pow_scalar exponent=p0,
// clamp [p0, p1], affine x*p0 + p1, relu_grad / sigmoid_grad etc. take no parameters.
enum class Unary : int {
  neg, exp, log, log1p, expm1, sqrt, abs, sigmoid, tanh, relu, softplus, log_sigmoid,
  elu, leaky_relu, pow_scalar, clamp, affine, square, reciprocal, sign, step,
  count
};
// y[i] = f(a[i], b[i]); a.size() and b.size() are each y.size() or 1 (a broadcast scalar).
// Fused backward and loss kernels (a = incoming gradient or logits, b = forward output or target):
//   relu_grad a * (b > 0), sigmoid_grad a * b * (1 - b), tanh_grad a * (1 - b^2),
//   bce_logits softplus(a) - a * b (stable BCE with logits), sigmoid_sub sigmoid(a) - b.
enum class Binary : int {
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge,
  relu_grad, sigmoid_grad, tanh_grad, bce_logits, sigmoid_sub,
  count
};

template <class T> void unary(Unary op, std::span<const T> x, std::span<T> y, T p0 = 0, T p1 = 0);
template <class T> void binary(Binary op, std::span<const T> a, std::span<const T> b, std::span<T> y);

// Binary cross-entropy with logits summed over rows of `cols` values (x, t and the gradients row-major):
// y[r] = sum over the row of softplus(x) - x t, in L1-sized chunks; the gradient gx[r, c] = gy[r]
// (sigmoid(x[r, c]) - t[r, c]). Rows split over the threads; a row's sum does not depend on their number.
template <class T> void bce_logits_rows(std::span<const T> x, std::span<const T> t, std::span<T> y, int64_t cols);
template <class T>
void bce_logits_rows_grad(std::span<const T> x, std::span<const T> t, std::span<const T> gy, std::span<T> gx,
                          int64_t cols);

// Sum of all elements, in fixed-size blocks (deterministic for a given size and instruction set).
template <class T> T sum(std::span<const T> x);
// How many x[i] fail lo <= x[i] <= hi (NaN always fails): validation's one pass over a tensor, e.g. [0, 1]
// for probabilities, (-inf, inf) for "not NaN", [min positive, inf] for "> 0".
template <class T> int64_t count_outside(std::span<const T> x, T lo, T hi);
// x viewed as [outer, r, inner] -> y [outer, inner]: sum over r.
template <class T> void reduce_sum(const T* x, T* y, int64_t outer, int64_t r, int64_t inner);
// As reduce_sum with max (or min); idx receives the first position of the extreme along r.
template <class T>
void reduce_max(const T* x, T* y, int64_t* idx, int64_t outer, int64_t r, int64_t inner, bool take_min);

// C = alpha * op(A) @ op(B) + beta * C (+ bias[j] in column j when bias is not null: a linear layer's
// bias, added in the micro-kernel's epilogue), row-major; op(A) is [M, K], op(B) is [K, N].
// trans_a: A is stored [K, M] (lda >= M); trans_b: B is stored [N, K] (ldb >= K). beta = 0 ignores C's
// old contents (NaN included).
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const T* bias = nullptr);

// C_i = op(A_i) @ op(B_i) for i < batch, A_i at a + i * stride_a (likewise B_i, C_i; stride_b = 0 shares
// one B), each to the bit as gemm computes it. Products with m, n, k <= kGemmSmall run without packing
// (gemm_small: a flow's per-example 20 x 20 factors cost their multiply-adds, not the blocked path's
// set-up), split over the threads by product; larger ones call gemm in turn.
inline constexpr int64_t kGemmSmall = 32;
template <class T>
void gemm_batched(bool trans_a, bool trans_b, int64_t batch, int64_t m, int64_t n, int64_t k, const T* a,
                  int64_t stride_a, int64_t lda, const T* b, int64_t stride_b, int64_t ldb, T* c, int64_t stride_c,
                  int64_t ldc);

// One op(B) for many products (a recurrent layer's W_hh at every time step): pack_b lays op(B) [k, n] out
// once in gemm's panel layout, into packed_b_size(k, n) elements at a 64-byte aligned address (the
// micro-kernels load its panels aligned; tensor storage is); gemm_packed_b then computes
// C = alpha * op(A) @ op(B) + beta * C (+ bias) as gemm would, without packing B again.
int64_t packed_b_size(int64_t k, int64_t n, int nr);  // nr: the table's gemm_nr (gemm_nr() below)
int gemm_nr(bool f64);
template <class T> void pack_b(bool trans_b, int64_t k, int64_t n, const T* b, int64_t ldb, T* packed);
template <class T>
void gemm_packed_b(bool trans_a, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* packed,
                   T beta, T* c, int64_t ldc, const T* bias = nullptr);

// Convolution (conv.cpp, conv_direct.cpp), NCHW as torch: x [n, c, h, w] with weight w [o, c, kh, kw]
// gives y [n, o, ho, wo], y[b, oc, i, j] = sum over (ci, di, dj) of w[oc, ci, di, dj] *
// x[b, ci, i*stride - pad + di, j*stride - pad + dj] (0 outside the image). The forward pass and the input
// gradient run as indirect convolutions (GEMM rows are pixels read in place: no im2col buffer), the input
// gradient split by output phase (no col2im scatter); the weight gradient is a GEMM over the batch's
// pixels; layers with few channels run direct kernels with the SIMD lanes along image rows.
// conv_input_grad is conv_forward's adjoint (conv_transpose2d's forward); bias (one per output channel of
// the pass, may be null) is added to its result. conv_weight_grad overwrites gw [o, c, kh, kw]. `work`
// holds conv_workspace(g, sizeof(T)) elements (any alignment). Threads take blocks of images or weight
// tiles; results do not depend on the thread count.
struct ConvGeom {
  int64_t n, c, h, w, o, kh, kw, ho, wo, stride, pad;
};
int64_t conv_workspace(const ConvGeom& g, size_t itemsize);
template <class T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y, T* work);
template <class T> void conv_input_grad(const ConvGeom& g, const T* y, const T* w, const T* bias, T* x, T* work);
template <class T> void conv_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* gw, T* work);

// One Adam / AdamW step over n parameters, torch 1.13's single-tensor formulas:
//   g += weight_decay * p (Adam) or p *= 1 - lr * weight_decay (AdamW, decoupled)
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2;  vmax = max(vmax, v) (amsgrad)
//   p -= lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // t, counted from 1
  bool decoupled, amsgrad;
};
template <class T> void adam(const AdamParams& a, T* p, const T* g, T* m, T* v, T* vmax, int64_t n);

// Recurrent cells over one row of h units, as torch.nn.GRU and LSTM (gate order r|z|n and i|f|g|o). x is
// the row's input projection x W_ih^T + b_ih (3h or 4h values). s is the row's saved state: on entry its
// first 3h (4h) values hold the hidden projection hprev W_hh^T + b_hh; on exit it holds what the gradient
// needs:
//   GRU  s[4h] = r | z | n | hidden projection's n part;  n = tanh(x_n + r hp_n),  h' = (1 - z) n + z hprev
//   LSTM s[6h] = i | f | g | o | cprev | tanh(c');         c' = f cprev + i g,     h' = o tanh(c')
// The gradient kernels start from dh, the gradient reaching h':
//   gru_cell_grad writes dx (pre-activation gradient of x's projection, 3h) and dhp (of the hidden
//   projection, 3h), and replaces dh by its direct path to hprev, dh z (the caller adds dhp W_hh);
//   lstm_cell_grad takes dc (the gradient reaching c'), writes dg (the gate pre-activations' gradient, 4h,
//   the same for both projections) and replaces dc by the gradient reaching cprev (the caller forms dg W_hh).
// cnew may alias cprev, hnew may alias hprev.
//
// The kernels whose public signature is their table entry's, declared once here: X(name, return type,
// (parameters), (arguments)) with T the element type. This list generates their declarations below,
// their fields in each instruction set's table (table.h), the fill (arch.inc), the forwarding functions
// and instantiations (dispatch.cpp) and their scalar twins' declarations and instantiations (ref.h,
// ref.cpp).
#define ELBO_FORWARDED_KERNELS(X, T)                                                                        \
  X(gru_cell, void, (int64_t h, const T* x, T* s, const T* hprev, T* hnew), (h, x, s, hprev, hnew))          \
  X(gru_cell_grad, void, (int64_t h, const T* s, const T* hprev, T* dh, T* dx, T* dhp),                      \
    (h, s, hprev, dh, dx, dhp))                                                                              \
  X(lstm_cell, void, (int64_t h, const T* x, T* s, const T* cprev, T* cnew, T* hnew),                        \
    (h, x, s, cprev, cnew, hnew))                                                                            \
  X(lstm_cell_grad, void, (int64_t h, const T* s, const T* dh, T* dc, T* dg), (h, s, dh, dc, dg))
#define ELBO_DECLARE_KERNEL(name, ret, params, args) template <class T> ret name params;
#define ELBO_INSTANTIATE_KERNEL(name, ret, params, args) template ret name params;
ELBO_FORWARDED_KERNELS(ELBO_DECLARE_KERNEL, T)

// A GRU or LSTM layer's recurrence over whole sequences (recurrent.cpp), the loop around the cells above.
// Sequences run sorted by length, longest first (perm), so at step s the sequences still running are a
// prefix of that order: step s has active[s] rows, row i being sequence perm[i], and what the gradient
// needs is packed step after step from row off[s] (as torch's PackedSequence; n rows in all):
//   hprev [n, h]  the state entering each step;  saved [n, width]  the cell kernels' saved state.
// xp holds the input projections in row(time, seq)'s layout; y [(t + 1 or 2) b, h] receives every step's
// output in the same layout, then the final h (and c) of each sequence (zero the rows of ended sequences
// first). The reverse direction reads and writes sequence b's element len[b] - 1 - s at step s.
// scan_backward takes y's gradient gy and writes dxp (zeroed by the caller), dh0 and dc0, dw and db (each
// may be null when not wanted); dh, dc [b, h] and dg [n, gates] are scratch. `work` holds
// scan_workspace(g, sizeof(T)) elements at a 64-byte aligned address: W_hh packed once for every step.
// Rows of a step split over the threads; each row's arithmetic does not depend on their number.
struct ScanGeom {
  int64_t t, b, h, n;
  bool lstm, reverse, batch_first;
  std::span<const int64_t> len, perm, active, off;  // off has steps() + 1 entries

  int64_t gates() const { return (lstm ? 4 : 3) * h; }
  int64_t width() const { return (lstm ? 6 : 4) * h; }
  int64_t steps() const { return int64_t(active.size()); }
  int64_t row(int64_t time, int64_t seq) const { return batch_first ? seq * t + time : time * b + seq; }
  int64_t time_of(int64_t step, int64_t seq) const { return reverse ? len[size_t(seq)] - 1 - step : step; }
};
int64_t scan_workspace(const ScanGeom& g, size_t itemsize);
template <class T>
void scan_forward(const ScanGeom& g, const T* xp, const T* h0, const T* c0, const T* w, const T* bias, T* y, T* hprev,
                  T* saved, T* cstate, T* work);
template <class T>
void scan_backward(const ScanGeom& g, const T* gy, const T* w, const T* hprev, const T* saved, T* dxp, T* dh0, T* dc0,
                   T* dw, T* db, T* dh, T* dc, T* dg, T* work);

// Instruction set in use: "avx512", "avx2", "sse2". ELBO_ARCH=portable|sse2|avx2|avx512 in the
// environment (read once) or set_arch() forces one; set_arch returns false if the CPU lacks it.
std::string_view arch_name();
bool set_arch(std::string_view name);

}  // namespace elbo::kernels
