// The recurrence of GRU and LSTM layers as one fused op (ops.h, recurrent_scan).
//
// Sequences run sorted by length, longest first, so at step s the sequences still running are a prefix
// of that order: row i of step s is sequence perm[i], and step s has active[s] rows. Everything saved
// for the gradient is packed step after step (off[s] is step s's first row, as torch's PackedSequence),
// so no row is computed or stored for a sequence that has ended:
//   hprev [N, H]  the state entering each step (rows of step 0: h0)
//   saved [N, W]  what the cell kernel leaves for the gradient (kernels.h: W = 4H for GRU, 6H for LSTM)
// The reverse direction is the same walk with sequence b's step s reading and writing its element
// L_b - 1 - s. Backward walks the steps back, carrying dh (and dc) per row; W_hh's gradient is one GEMM
// over all packed rows at the end. W_hh is packed into the GEMM's panel layout once per pass, not per step.
#include <algorithm>

#include "autograd/kernels/thread_pool.h"
#include "autograd/ops/common.h"

namespace elbo {
namespace {

using detail::PooledVector;

struct Plan {
  int64_t t = 0, b = 0, h = 0, gates = 0, width = 0, n = 0;
  bool lstm = false, reverse = false, batch_first = false;
  PooledVector<int64_t> len, perm, active, off;  // off has steps + 1 entries

  int64_t steps() const { return int64_t(active.size()); }
  // Row of element t of sequence b in xp's layout.
  int64_t row(int64_t time, int64_t seq) const { return batch_first ? seq * t + time : time * b + seq; }
  int64_t time_of(int64_t step, int64_t seq) const { return reverse ? len[size_t(seq)] - 1 - step : step; }
};

bool is_matrix(const Tensor& x, int64_t rows, int64_t cols) {
  return x.dim() == 2 && x.size(0) == rows && x.size(1) == cols;
}

Plan make_plan(RecurrentCell cell, const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
               const Tensor& b_hh, std::span<const int64_t> lengths, bool reverse, bool batch_first) {
  const char* op = cell == RecurrentCell::gru ? "gru" : "lstm";
  Plan p;
  p.lstm = cell == RecurrentCell::lstm;
  p.reverse = reverse, p.batch_first = batch_first;
  const int64_t g = p.lstm ? 4 : 3;
  ELBO_CHECK_SHAPE(w_hh.dim() == 2 && w_hh.size(0) == g * w_hh.size(1) && w_hh.size(1) > 0,
                   "{}: weight_hh {} must be [{} * hidden_size, hidden_size]", op, w_hh.shape(), g);
  p.h = w_hh.size(1), p.gates = g * p.h, p.width = (p.lstm ? 6 : 4) * p.h;
  ELBO_CHECK_SHAPE(xp.dim() == 3 && xp.size(2) == p.gates && xp.size(0) > 0 && xp.size(1) > 0,
                   "{}: input projection {} must be {} with {} = {} * hidden_size features", op, xp.shape(),
                   batch_first ? "[batch, time, G]" : "[time, batch, G]", p.gates, g);
  p.t = xp.size(batch_first ? 1 : 0), p.b = xp.size(batch_first ? 0 : 1);
  ELBO_CHECK_SHAPE(!b_hh.defined() || (b_hh.dim() == 1 && b_hh.size(0) == p.gates), "{}: bias_hh {} must be [{}]", op, b_hh.shape(),
                   p.gates);
  ELBO_CHECK_SHAPE(is_matrix(h0, p.b, p.h), "{}: initial hidden state {} must be [batch {}, hidden {}]", op,
                   h0.shape(), p.b, p.h);
  if (p.lstm)
    ELBO_CHECK_SHAPE(is_matrix(c0, p.b, p.h), "lstm: initial cell state {} must be [batch {}, hidden {}]",
                     c0.shape(), p.b, p.h);
  for (const Tensor* x : {&h0, &c0, &w_hh, &b_hh})
    ELBO_CHECK(!x->defined() || x->dtype() == xp.dtype(), "{}: operands must share one dtype, got input projection "
               "{} and a state or weight {}", op, xp.dtype(), x->dtype());
  ELBO_CHECK(xp.dtype() != DType::i64, "{}: needs floating tensors, got i64", op);
  ELBO_CHECK_SHAPE(lengths.empty() || int64_t(lengths.size()) == p.b,
                   "{}: {} lengths for a batch of {} sequences (input projection {})", op, lengths.size(), p.b,
                   xp.shape());
  p.len.assign(size_t(p.b), p.t);
  for (int64_t i = 0; i < int64_t(lengths.size()); ++i) {
    const int64_t l = lengths[size_t(i)];
    ELBO_CHECK_VALUE(l >= 1 && l <= p.t, "{}: length {} of sequence {} is outside [1, {}] (input projection {})", op,
                     l, i, p.t, xp.shape());
    p.len[size_t(i)] = l;
  }
  p.perm.resize(size_t(p.b));
  for (int64_t i = 0; i < p.b; ++i) p.perm[size_t(i)] = i;
  std::sort(p.perm.begin(), p.perm.end(), [&](int64_t a, int64_t c) {  // longest first; ties by index
    return p.len[size_t(a)] != p.len[size_t(c)] ? p.len[size_t(a)] > p.len[size_t(c)] : a < c;
  });
  const int64_t steps = p.len[size_t(p.perm[0])];
  p.active.assign(size_t(steps), 0);
  for (int64_t s = 0; s < steps; ++s)
    while (p.active[size_t(s)] < p.b && p.len[size_t(p.perm[size_t(p.active[size_t(s)])])] > s) ++p.active[size_t(s)];
  p.off.assign(size_t(steps + 1), 0);
  for (int64_t s = 0; s < steps; ++s) p.off[size_t(s + 1)] = p.off[size_t(s)] + p.active[size_t(s)];
  p.n = p.off[size_t(steps)];
  return p;
}

// Rows per parallel task: enough work per task to pay for the hand-off.
int64_t row_grain(int64_t h) { return std::max<int64_t>(1, 4096 / h); }

// W_hh in the GEMM's panel layout, packed once for every time step (op(B) = W^T forward, W backward).
template <class T> Tensor packed_weight(const T* w, bool transposed, int64_t k, int64_t n, DType dtype) {
  Tensor packed = empty({kernels::packed_b_size(k, n, kernels::gemm_nr(dtype == DType::f64))}, dtype);
  kernels::pack_b<T>(transposed, k, n, w, transposed ? k : n, packed.data<T>());
  return packed;
}

template <class T>
void scan_forward(const Plan& p, const T* xp, const T* h0, const T* c0, const T* w, const T* bias, T* y, T* hprev,
                  T* saved, T* cstate) {
  const int64_t h = p.h, fin = p.t * p.b;  // y's first row of final states
  const Tensor wt = packed_weight(w, true, h, p.gates, sizeof(T) == 8 ? DType::f64 : DType::f32);
  for (int64_t i = 0; i < p.b; ++i) {
    const int64_t seq = p.perm[size_t(i)];
    std::copy(h0 + seq * h, h0 + (seq + 1) * h, hprev + i * h);
    if (p.lstm) std::copy(c0 + seq * h, c0 + (seq + 1) * h, cstate + i * h);
  }
  for (int64_t s = 0; s < p.steps(); ++s) {
    const int64_t rows = p.active[size_t(s)], o = p.off[size_t(s)];
    const int64_t next = s + 1 < p.steps() ? p.active[size_t(s + 1)] : 0;
    kernels::gemm_packed_b<T>(false, rows, p.gates, h, T(1), hprev + o * h, h, wt.data<const T>(), T(0),
                              saved + o * p.width, p.width, bias);
    kernels::parallel_for(rows, row_grain(h), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t seq = p.perm[size_t(i)], r = p.row(p.time_of(s, seq), seq);
        T* out = y + r * h;
        if (p.lstm)
          kernels::lstm_cell<T>(h, xp + r * p.gates, saved + (o + i) * p.width, cstate + i * h, cstate + i * h, out);
        else
          kernels::gru_cell<T>(h, xp + r * p.gates, saved + (o + i) * p.width, hprev + (o + i) * h, out);
        T* dst = i < next ? hprev + (p.off[size_t(s + 1)] + i) * h : y + (fin + seq) * h;
        std::copy(out, out + h, dst);
      }
    });
  }
  if (p.lstm)
    for (int64_t i = 0; i < p.b; ++i) {
      const int64_t seq = p.perm[size_t(i)];
      std::copy(cstate + i * h, cstate + (i + 1) * h, y + (fin + p.b + seq) * h);
    }
}

// gy: the gradient of scan_forward's y. Writes dxp (zeroed by the caller), dh0, dc0 (may be null), dw and
// db (null when not wanted). dh, dc: [B, H] scratch; dg: [N, G] scratch.
template <class T>
void scan_backward(const Plan& p, const T* gy, const T* w, const T* hprev, const T* saved, T* dxp, T* dh0, T* dc0,
                   T* dw, T* db, T* dh, T* dc, T* dg) {
  const int64_t h = p.h, fin = p.t * p.b;
  const Tensor wp = packed_weight(w, false, p.gates, h, sizeof(T) == 8 ? DType::f64 : DType::f32);
  for (int64_t i = 0; i < p.b; ++i) {
    const int64_t seq = p.perm[size_t(i)];
    std::copy(gy + (fin + seq) * h, gy + (fin + seq + 1) * h, dh + i * h);
    if (p.lstm) std::copy(gy + (fin + p.b + seq) * h, gy + (fin + p.b + seq + 1) * h, dc + i * h);
  }
  for (int64_t s = p.steps() - 1; s >= 0; --s) {
    const int64_t rows = p.active[size_t(s)], o = p.off[size_t(s)];
    kernels::parallel_for(rows, row_grain(h), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t seq = p.perm[size_t(i)], r = p.row(p.time_of(s, seq), seq);
        T* dhi = dh + i * h;
        const T* g = gy + r * h;
        for (int64_t j = 0; j < h; ++j) dhi[j] += g[j];
        T* dgi = dg + (o + i) * p.gates;
        if (p.lstm) {
          kernels::lstm_cell_grad<T>(h, saved + (o + i) * p.width, dhi, dc + i * h, dgi);
          std::copy(dgi, dgi + p.gates, dxp + r * p.gates);
        } else {
          kernels::gru_cell_grad<T>(h, saved + (o + i) * p.width, hprev + (o + i) * h, dhi, dxp + r * p.gates, dgi);
        }
      }
    });
    // dh of the rows still running = (GRU: dh z +) dg W_hh
    kernels::gemm_packed_b<T>(false, rows, h, p.gates, T(1), dg + o * p.gates, p.gates, wp.data<const T>(),
                              p.lstm ? T(0) : T(1), dh, h);
  }
  for (int64_t i = 0; i < p.b; ++i) {
    const int64_t seq = p.perm[size_t(i)];
    if (dh0) std::copy(dh + i * h, dh + (i + 1) * h, dh0 + seq * h);
    if (dc0) std::copy(dc + i * h, dc + (i + 1) * h, dc0 + seq * h);
  }
  if (dw) kernels::gemm<T>(true, false, p.gates, h, p.n, T(1), dg, p.gates, hprev, h, T(0), dw, h);
  if (db) kernels::reduce_sum<T>(dg, db, 1, p.n, p.gates);
}

}  // namespace

Tensor recurrent_scan(RecurrentCell cell, const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                      const Tensor& b_hh, std::span<const int64_t> lengths, bool reverse, bool batch_first) {
  ELBO_CHECK(xp.defined() && h0.defined() && w_hh.defined() && (cell == RecurrentCell::gru || c0.defined()),
             "{}: the input projection, initial state(s) and weight_hh must be defined",
             cell == RecurrentCell::gru ? "gru" : "lstm");
  Plan p = make_plan(cell, xp, h0, c0, w_hh, b_hh, lengths, reverse, batch_first);
  const int64_t finals = p.lstm ? 2 : 1;
  Tensor y = zeros({(p.t + finals) * p.b, p.h}, xp.dtype());
  Tensor hprev = empty({p.n, p.h}, xp.dtype()), saved = empty({p.n, p.width}, xp.dtype());
  Tensor cstate = p.lstm ? empty({p.b, p.h}, xp.dtype()) : Tensor();
  with_float(xp.dtype(), p.lstm ? "lstm" : "gru", [&](auto tag) {
    using T = decltype(tag);
    scan_forward<T>(p, xp.data<const T>(), h0.data<const T>(), p.lstm ? c0.data<const T>() : nullptr,
                    w_hh.data<const T>(), b_hh.defined() ? b_hh.data<const T>() : nullptr, y.data<T>(), hprev.data<T>(),
                    saved.data<T>(), p.lstm ? cstate.data<T>() : nullptr);
  });
  const bool gh = h0.requires_grad(), gc = p.lstm && c0.requires_grad(), gw = w_hh.requires_grad();
  const bool gb = b_hh.defined() && b_hh.requires_grad();
  return record(p.lstm ? op::lstm_scan : op::gru_scan, y, {xp, h0, c0, w_hh, b_hh},
                [p = std::move(p), w_hh, hprev, saved, gh, gc, gw, gb](const Tensor& gy) {
                  const DType dt = gy.dtype();
                  Tensor dxp = p.batch_first ? zeros({p.b, p.t, p.gates}, dt) : zeros({p.t, p.b, p.gates}, dt), dh0 = empty({p.b, p.h}, dt), dc0, dw, db;
                  Tensor dh = empty({p.b, p.h}, dt), dc = p.lstm ? empty({p.b, p.h}, dt) : Tensor();
                  Tensor dg = empty({p.n, p.gates}, dt);
                  if (gc) dc0 = empty({p.b, p.h}, dt);
                  if (gw) dw = empty(w_hh.shape(), dt);
                  if (gb) db = empty({p.gates}, dt);
                  with_float(dt, p.lstm ? "lstm" : "gru", [&](auto tag) {
                    using T = decltype(tag);
                    const auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
                    scan_backward<T>(p, gy.data<const T>(), w_hh.data<const T>(), hprev.data<const T>(),
                                     saved.data<const T>(), dxp.data<T>(), dh0.data<T>(), ptr(dc0), ptr(dw), ptr(db),
                                     dh.data<T>(), ptr(dc), dg.data<T>());
                  });
                  return Grads{dxp, gh ? dh0 : Tensor(), dc0, dw, db};
                });
}

}  // namespace elbo
