// The recurrence of GRU and LSTM layers as one fused op (ops.h, recurrent_scan): the shapes checked, the
// sequences ordered by length and the buffers the kernel needs (kernels.h, ScanGeom, scan_forward and
// scan_backward) allocated here; the loop over time steps is the kernel's.
#include <algorithm>

#include "autograd/ops/common.h"

namespace elbo {
namespace {

using detail::PooledVector;

// The scan's geometry and the orderings its spans view (kept alive with the backward closure).
struct Plan {
  int64_t t = 0, b = 0, h = 0, gates = 0, width = 0, n = 0;
  bool lstm = false, reverse = false, batch_first = false;
  PooledVector<int64_t> len, perm, active, off;  // off has steps + 1 entries

  kernels::ScanGeom geom() const { return {t, b, h, n, lstm, reverse, batch_first, len, perm, active, off}; }
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
  const kernels::ScanGeom g = p.geom();
  Tensor work = empty({kernels::scan_workspace(g, itemsize(xp.dtype()))}, xp.dtype());
  with_float(xp.dtype(), p.lstm ? "lstm" : "gru", [&](auto tag) {
    using T = decltype(tag);
    kernels::scan_forward<T>(g, xp.data<const T>(), h0.data<const T>(), p.lstm ? c0.data<const T>() : nullptr,
                             w_hh.data<const T>(), b_hh.defined() ? b_hh.data<const T>() : nullptr, y.data<T>(),
                             hprev.data<T>(), saved.data<T>(), p.lstm ? cstate.data<T>() : nullptr, work.data<T>());
  });
  const bool gh = h0.requires_grad(), gc = p.lstm && c0.requires_grad(), gw = w_hh.requires_grad();
  const bool gb = b_hh.defined() && b_hh.requires_grad();
  return record(p.lstm ? op::lstm_scan : op::gru_scan, y, {xp, h0, c0, w_hh, b_hh},
                [p = std::move(p), w_hh, hprev, saved, gh, gc, gw, gb](const Tensor& gy) {
                  const DType dt = gy.dtype();
                  Tensor dxp = p.batch_first ? zeros({p.b, p.t, p.gates}, dt) : zeros({p.t, p.b, p.gates}, dt), dh0 = empty({p.b, p.h}, dt), dc0, dw, db;
                  Tensor dh = empty({p.b, p.h}, dt), dc = p.lstm ? empty({p.b, p.h}, dt) : Tensor();
                  Tensor dg = empty({p.n, p.gates}, dt);
                  const kernels::ScanGeom g = p.geom();
                  Tensor work = empty({kernels::scan_workspace(g, itemsize(dt))}, dt);
                  if (gc) dc0 = empty({p.b, p.h}, dt);
                  if (gw) dw = empty(w_hh.shape(), dt);
                  if (gb) db = empty({p.gates}, dt);
                  with_float(dt, p.lstm ? "lstm" : "gru", [&](auto tag) {
                    using T = decltype(tag);
                    const auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
                    kernels::scan_backward<T>(g, gy.data<const T>(), w_hh.data<const T>(), hprev.data<const T>(),
                                              saved.data<const T>(), dxp.data<T>(), dh0.data<T>(), ptr(dc0), ptr(dw),
                                              ptr(db), dh.data<T>(), ptr(dc), dg.data<T>(), work.data<T>());
                  });
                  return Grads{dxp, gh ? dh0 : Tensor(), dc0, dw, db};
                });
}

}  // namespace elbo
