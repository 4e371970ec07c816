// Blocked GEMM driver (Goto/BLIS style): for each KC-deep slice, pack an NC-wide panel of op(B) and an
// MC-tall block of op(A) into the micro-kernel's layouts, then sweep MR x NR tiles. Transposed operands
// are handled by the packing, never materialized. Threads split C into column (or row) ranges aligned
// to the tile size, so every element of C sees the same arithmetic for any thread count.
#include <algorithm>

#include "scratch.h"
#include "table.h"
#include "thread_pool.h"

namespace elbo::kernels {

const Tables& current();

namespace {

constexpr int64_t kKC = 256, kMC = 96, kNC = 1024;
// Tall products (the --iw evaluation's 25,000-row decoder) take K in one block of up to kKCTall, so C
// (far larger than the caches) is written once instead of re-read for every K block.
constexpr int64_t kKCTall = 512, kTallRows = 1024;

// Splits [0, n) into equal blocks of at most `most`, rounded up to `unit` (K = 784 is 4 x 196, not
// 3 x 256 + 16: a thin last block would pay a full pass over C for a few k steps).
int64_t balanced(int64_t n, int64_t most, int64_t unit) {
  const int64_t blocks = (n + most - 1) / most, size = (n + blocks - 1) / blocks;
  return std::min(most, (size + unit - 1) / unit * unit);
}

// The micro-kernels' time for an m x n product per k step, in FMA issue slots: a tile of R rows and V
// batches issues R * V FMAs, and takes at least 8 slots (two FMA pipes, four cycles of latency on each of
// its accumulator chains), so thin edge tiles cost more than their share.
int64_t tile_cost(int64_t m, int64_t n, int64_t mr, int64_t nr) {
  const int64_t w = nr / 2, edge_r = m % mr, edge_c = n % nr, vc = edge_c == 0 ? 0 : edge_c <= w ? 1 : 2;
  const auto tile = [](int64_t r, int64_t v) { return r == 0 || v == 0 ? 0 : std::max<int64_t>(r * v, 8); };
  const int64_t row_cost = (n / nr) * tile(mr, 2) + tile(mr, vc);  // one full row of tiles
  const int64_t edge_cost = (n / nr) * tile(edge_r, 2) + tile(edge_r, vc);
  return (m / mr) * row_cost + edge_cost;
}

// Packs op(B)[pc:pc+kc, jc:jc+nc] into NR-wide panels, zero-padded (the table's gemm_pack_b).
template <class T>
void pack_b_block(const Table<T>& t, bool tb, const T* b, int64_t ldb, int64_t pc, int64_t kc, int64_t jc, int64_t nc,
                  T* pb) {
  t.gemm_pack_b(tb, tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc, pb);
}

// Packs op(A)[ic:ic+mc, pc:pc+kc] into MR-tall panels, zero-padded, then sweeps the tiles against the
// packed B block pb (nc columns).
template <class T>
void sweep_a(const Table<T>& t, bool ta, const T* a, int64_t lda, int64_t m, int64_t mcb, int64_t pc, int64_t kc,
             const T* pb, int64_t jc, int64_t nc, T alpha, T beta_here, T* c, int64_t ldc, const T* bias, T* pa) {
  const int64_t MR = t.gemm_mr, NR = t.gemm_nr;
  for (int64_t ic = 0; ic < m; ic += mcb) {
    const int64_t mc = std::min(mcb, m - ic);
    t.gemm_pack_a(ta, ta ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc, pa);
    for (int64_t jp = 0; jp < nc; jp += NR)
      for (int64_t ip = 0; ip < mc; ip += MR)
        t.gemm_micro(kc, pa + ip * kc, pb + jp * kc, c + (ic + ip) * ldc + jc + jp, ldc, alpha, beta_here,
                     std::min(MR, mc - ip), std::min(NR, nc - jp), pc == 0 && bias ? bias + jc + jp : nullptr);
  }
}

template <class T>
void gemm_serial(const Table<T>& t, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, const T* bias) {
  const int64_t MR = t.gemm_mr, NR = t.gemm_nr;
  T* pa = scratch<T>(Scratch::gemm_a, size_t(kMC + MR) * kKCTall);
  T* pb = scratch<T>(Scratch::gemm_b, size_t(kNC + NR) * kKCTall);
  const int64_t kcb = balanced(k, m >= kTallRows ? kKCTall : kKC, 1), mcb = balanced(m, kMC, MR);
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t nc = std::min(kNC, n - jc);
    for (int64_t pc = 0; pc < k; pc += kcb) {
      const int64_t kc = std::min(kcb, k - pc);
      const T beta_here = pc == 0 ? beta : T(1);
      pack_b_block(t, tb, b, ldb, pc, kc, jc, nc, pb);
      sweep_a(t, ta, a, lda, m, mcb, pc, kc, pb, jc, nc, alpha, beta_here, c, ldc, bias, pa);
    }
  }
}

// gemm_serial over columns [j0, j1) of a B packed whole by pack_b (j0 a multiple of NR).
template <class T>
void gemm_packed_serial(const Table<T>& t, bool ta, int64_t m, int64_t n, int64_t k, int64_t j0, int64_t j1, T alpha,
                        const T* a, int64_t lda, const T* packed, T beta, T* c, int64_t ldc, const T* bias) {
  const int64_t MR = t.gemm_mr, NR = t.gemm_nr;
  T* pa = scratch<T>(Scratch::gemm_a, size_t(kMC + MR) * kKCTall);
  const int64_t kcb = balanced(k, kKC, 1), mcb = balanced(m, kMC, MR);
  for (int64_t jc = 0; jc < n; jc += kNC) {  // the packed layout: NC blocks, in each the K blocks
    const int64_t nc = std::min(kNC, n - jc), ncp = (nc + NR - 1) / NR * NR;
    const int64_t lo = std::max(j0, jc), hi = std::min(j1, jc + nc);
    for (int64_t pc = 0; pc < k; pc += kcb) {
      const int64_t kc = std::min(kcb, k - pc);
      if (lo < hi)
        sweep_a(t, ta, a, lda, m, mcb, pc, kc, packed + jc * k + pc * ncp + (lo - jc) * kc, lo, hi - lo, alpha,
                pc == 0 ? beta : T(1), c, ldc, bias, pa);
    }
  }
}



}  // namespace

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc, const T* bias) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == T(0)) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = (beta == T(0) ? T(0) : beta * c[i * ldc + j]) + (bias ? bias[j] : T(0));
    return;
  }
  const Table<T>& t = current().get<T>();
  const int64_t MR = t.gemm_mr, NR = t.gemm_nr;
  // Few columns (a latent head's 20 or 40) fill little of an NR-wide panel: compute C^T = op(B)^T op(A)^T,
  // the small side on the MR rows, then transpose it into C, when the tile model (tile_cost) says that is
  // at least a twentieth cheaper (transposing C and packing the other way cost a few percent). Each
  // element's sum is the same k-loop.
  if (20 * tile_cost(n, m, MR, NR) < 19 * tile_cost(m, n, MR, NR)) {
    T* ct = scratch<T>(Scratch::gemm_transposed, size_t(m * n));
    gemm<T>(!tb, !ta, n, m, k, alpha, b, ldb, a, lda, T(0), ct, m, nullptr);
    if (beta == T(0)) {
      t.transpose(ct, m, c, ldc, n, m);
      if (bias)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) c[i * ldc + j] += bias[j];
    } else {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta * c[i * ldc + j] + ct[j * m + i] + (bias ? bias[j] : T(0));
    }
    return;
  }
  const double flops = 2.0 * double(m) * double(n) * double(k);
  const int threads = num_threads();
  if (threads == 1 || flops < 4e6) return gemm_serial(t, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias);
  if (n >= m) {  // split columns in whole NR panels
    const int64_t panels = (n + NR - 1) / NR;
    parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
      const int64_t j0 = p0 * NR, j1 = std::min(n, p1 * NR);
      gemm_serial(t, ta, tb, m, j1 - j0, k, alpha, a, lda, tb ? b + j0 * ldb : b + j0, ldb, beta, c + j0, ldc,
                  bias ? bias + j0 : nullptr);
    });
  } else {  // split rows in whole MR panels
    const int64_t panels = (m + MR - 1) / MR;
    parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
      const int64_t i0 = p0 * MR, i1 = std::min(m, p1 * MR);
      gemm_serial(t, ta, tb, i1 - i0, n, k, alpha, ta ? a + i0 : a + i0 * lda, lda, b, ldb, beta, c + i0 * ldc, ldc,
                  bias);
    });
  }
}

template <class T>
void gemm_batched(bool ta, bool tb, int64_t batch, int64_t m, int64_t n, int64_t k, const T* a, int64_t stride_a,
                  int64_t lda, const T* b, int64_t stride_b, int64_t ldb, T* c, int64_t stride_c, int64_t ldc) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (k <= 0 || m > kGemmSmall || n > kGemmSmall || k > kGemmSmall) {
    for (int64_t i = 0; i < batch; ++i)
      gemm<T>(ta, tb, m, n, k, T(1), a + i * stride_a, lda, b + i * stride_b, ldb, T(0), c + i * stride_c, ldc);
    return;
  }
  const Table<T>& t = current().get<T>();
  // about 64k multiply-adds per task, so a batch of 20 x 20 x 20 products splits in chunks of 8
  const int64_t grain = std::max<int64_t>(1, 65536 / (m * n * k));
  parallel_for(batch, grain, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      t.gemm_small(ta, tb, m, n, k, a + i * stride_a, lda, b + i * stride_b, ldb, c + i * stride_c, ldc);
  });
}

template void gemm_batched<float>(bool, bool, int64_t, int64_t, int64_t, int64_t, const float*, int64_t, int64_t,
                                  const float*, int64_t, int64_t, float*, int64_t, int64_t);
template void gemm_batched<double>(bool, bool, int64_t, int64_t, int64_t, int64_t, const double*, int64_t, int64_t,
                                   const double*, int64_t, int64_t, double*, int64_t, int64_t);

int gemm_nr(bool f64) { return f64 ? current().f64.gemm_nr : current().f32.gemm_nr; }

int64_t packed_b_size(int64_t k, int64_t n, int nr) {
  int64_t total = 0;
  for (int64_t jc = 0; jc < n; jc += kNC) total += (std::min(kNC, n - jc) + nr - 1) / nr * nr * k;
  return total;
}

template <class T> void pack_b(bool tb, int64_t k, int64_t n, const T* b, int64_t ldb, T* packed) {
  const Table<T>& t = current().get<T>();
  const int64_t NR = t.gemm_nr, kcb = balanced(k, kKC, 1);
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t nc = std::min(kNC, n - jc), ncp = (nc + NR - 1) / NR * NR;
    for (int64_t pc = 0; pc < k; pc += kcb)
      pack_b_block(t, tb, b, ldb, pc, std::min(kcb, k - pc), jc, nc, packed + jc * k + pc * ncp);
  }
}

template <class T>
void gemm_packed_b(bool ta, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* packed,
                   T beta, T* c, int64_t ldc, const T* bias) {
  if (m <= 0 || n <= 0) return;
  const Table<T>& t = current().get<T>();
  const int64_t NR = t.gemm_nr;
  if (num_threads() == 1 || 2.0 * double(m) * double(n) * double(k) < 4e6)
    return gemm_packed_serial(t, ta, m, n, k, 0, n, alpha, a, lda, packed, beta, c, ldc, bias);
  parallel_for((n + NR - 1) / NR, 1, [&](int64_t p0, int64_t p1) {
    gemm_packed_serial(t, ta, m, n, k, p0 * NR, std::min(n, p1 * NR), alpha, a, lda, packed, beta, c, ldc, bias);
  });
}

template void pack_b<float>(bool, int64_t, int64_t, const float*, int64_t, float*);
template void pack_b<double>(bool, int64_t, int64_t, const double*, int64_t, double*);
template void gemm_packed_b<float>(bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, float,
                                   float*, int64_t, const float*);
template void gemm_packed_b<double>(bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                                    double, double*, int64_t, const double*);

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                          int64_t, float, float*, int64_t, const float*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, const double*);

}  // namespace elbo::kernels
