// The recurrence of GRU and LSTM layers over whole sequences (kernels.h, scan_forward / scan_backward):
// per time step one GEMM of the running rows' states with the packed W_hh, then the cell kernel on each
// row, rows split over the threads (each row's arithmetic is the same for any thread count).
#include <algorithm>
#include <cstdint>

#include "kernels.h"
#include "thread_pool.h"

namespace elbo::kernels {
namespace {

// Rows per parallel task: enough work per task to pay for the hand-off.
int64_t row_grain(int64_t h) { return std::max<int64_t>(1, 4096 / h); }

}  // namespace

int64_t scan_workspace(const ScanGeom& g, size_t itemsize) {
  const int64_t forward = packed_b_size(g.h, g.gates(), gemm_nr(itemsize == 8));
  const int64_t backward = packed_b_size(g.gates(), g.h, gemm_nr(itemsize == 8));
  return std::max(forward, backward);
}

template <class T>
void scan_forward(const ScanGeom& g, const T* xp, const T* h0, const T* c0, const T* w, const T* bias, T* y, T* hprev,
                  T* saved, T* cstate, T* work) {
  const int64_t h = g.h, gates = g.gates(), width = g.width(), fin = g.t * g.b;  // y's first row of final states
  pack_b<T>(true, h, gates, w, h, work);  // op(B) = W_hh^T, once for every step
  for (int64_t i = 0; i < g.b; ++i) {
    const int64_t seq = g.perm[size_t(i)];
    std::copy(h0 + seq * h, h0 + (seq + 1) * h, hprev + i * h);
    if (g.lstm) std::copy(c0 + seq * h, c0 + (seq + 1) * h, cstate + i * h);
  }
  for (int64_t s = 0; s < g.steps(); ++s) {
    const int64_t rows = g.active[size_t(s)], o = g.off[size_t(s)];
    const int64_t next = s + 1 < g.steps() ? g.active[size_t(s + 1)] : 0;
    gemm_packed_b<T>(false, rows, gates, h, T(1), hprev + o * h, h, work, T(0), saved + o * width, width, bias);
    parallel_for(rows, row_grain(h), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t seq = g.perm[size_t(i)], r = g.row(g.time_of(s, seq), seq);
        T* out = y + r * h;
        if (g.lstm)
          lstm_cell<T>(h, xp + r * gates, saved + (o + i) * width, cstate + i * h, cstate + i * h, out);
        else
          gru_cell<T>(h, xp + r * gates, saved + (o + i) * width, hprev + (o + i) * h, out);
        T* dst = i < next ? hprev + (g.off[size_t(s + 1)] + i) * h : y + (fin + seq) * h;
        std::copy(out, out + h, dst);
      }
    });
  }
  if (g.lstm)
    for (int64_t i = 0; i < g.b; ++i) {
      const int64_t seq = g.perm[size_t(i)];
      std::copy(cstate + i * h, cstate + (i + 1) * h, y + (fin + g.b + seq) * h);
    }
}

template <class T>
void scan_backward(const ScanGeom& g, const T* gy, const T* w, const T* hprev, const T* saved, T* dxp, T* dh0, T* dc0,
                   T* dw, T* db, T* dh, T* dc, T* dg, T* work) {
  const int64_t h = g.h, gates = g.gates(), width = g.width(), fin = g.t * g.b;
  pack_b<T>(false, gates, h, w, h, work);  // op(B) = W_hh
  for (int64_t i = 0; i < g.b; ++i) {
    const int64_t seq = g.perm[size_t(i)];
    std::copy(gy + (fin + seq) * h, gy + (fin + seq + 1) * h, dh + i * h);
    if (g.lstm) std::copy(gy + (fin + g.b + seq) * h, gy + (fin + g.b + seq + 1) * h, dc + i * h);
  }
  for (int64_t s = g.steps() - 1; s >= 0; --s) {
    const int64_t rows = g.active[size_t(s)], o = g.off[size_t(s)];
    parallel_for(rows, row_grain(h), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t seq = g.perm[size_t(i)], r = g.row(g.time_of(s, seq), seq);
        T* dhi = dh + i * h;
        const T* gyr = gy + r * h;
        for (int64_t j = 0; j < h; ++j) dhi[j] += gyr[j];
        T* dgi = dg + (o + i) * gates;
        if (g.lstm) {
          lstm_cell_grad<T>(h, saved + (o + i) * width, dhi, dc + i * h, dgi);
          std::copy(dgi, dgi + gates, dxp + r * gates);
        } else {
          gru_cell_grad<T>(h, saved + (o + i) * width, hprev + (o + i) * h, dhi, dxp + r * gates, dgi);
        }
      }
    });
    // dh of the rows still running = (GRU: dh z +) dg W_hh
    gemm_packed_b<T>(false, rows, h, gates, T(1), dg + o * gates, gates, work, g.lstm ? T(0) : T(1), dh, h);
  }
  for (int64_t i = 0; i < g.b; ++i) {
    const int64_t seq = g.perm[size_t(i)];
    if (dh0) std::copy(dh + i * h, dh + (i + 1) * h, dh0 + seq * h);
    if (dc0) std::copy(dc + i * h, dc + (i + 1) * h, dc0 + seq * h);
  }
  if (dw) gemm<T>(true, false, gates, h, g.n, T(1), dg, gates, hprev, h, T(0), dw, h);
  if (db) reduce_sum<T>(dg, db, 1, g.n, gates);
}

#define ELBO_SCAN(T)                                                                                              \
  template void scan_forward<T>(const ScanGeom&, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, T*, \
                                T*);                                                                              \
  template void scan_backward<T>(const ScanGeom&, const T*, const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, \
                                 T*, T*, T*);
ELBO_SCAN(float)
ELBO_SCAN(double)
#undef ELBO_SCAN

}  // namespace elbo::kernels
