// Autograd benchmarks: the GEMM on the VAE's shapes (beside OpenBLAS sgemm when available), elementwise
// kernels beside their scalar twins, and the per-op overhead of the tape.
#include <benchmark/benchmark.h>

#include <autograd/kernels/kernels.h>
#include <autograd/kernels/ref.h>
#include <autograd/kernels/thread_pool.h>
#include <elbo/elbo.h>
#include <immintrin.h>

#include <string>
#include <vector>

#ifdef ELBO_BENCH_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
extern "C" char* openblas_get_corename(void);
#endif

using namespace elbo;

namespace {
std::vector<float> filled(size_t n, uint64_t seed) {
  Generator g(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(g.uniform() - 0.5);
  return v;
}

// The VAE's products, forward and backward: (M, N, K, trans_a, trans_b).
//   128x784 @ (400x784)^T forward fc1, 128x400 @ (784x400)^T forward fc4,
//   backward dX = dY W (no transpose) and dW = dY^T X (A transposed), and the latent heads.
void gemm_shapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2})
    for (auto s : std::vector<std::vector<int64_t>>{{128, 400, 784, 0, 1},
                                                    {128, 784, 400, 0, 1},
                                                    {128, 784, 400, 0, 0},
                                                    {400, 784, 128, 1, 0},
                                                    {784, 400, 128, 1, 0},
                                                    {128, 40, 400, 0, 1},
                                                    {512, 512, 512, 0, 0}}) {
      auto args = s;
      args.push_back(threads);
      b->Args(args);
    }
  b->ArgNames({"M", "N", "K", "ta", "tb", "threads"});
}

#ifdef ELBO_BENCH_OPENBLAS
// The kernel family OpenBLAS picked (OPENBLAS_CORETYPE may force it: Haswell is its AVX2 family, SkylakeX
// its AVX-512 one), beside elbo_kernels in the report's context.
const bool kOpenblasInContext = [] {
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  return true;
}();
#endif

void set_counters(benchmark::State& st, int64_t m, int64_t n, int64_t k) {
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(m * n * k), benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}
}  // namespace

static void BM_Sgemm(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2);
  const bool ta = st.range(3), tb = st.range(4);
  set_num_threads(int(st.range(5)));
  const auto a = filled(size_t(m * k), 1), b = filled(size_t(k * n), 2);
  std::vector<float> c(size_t(m * n));
  for (auto _ : st) {
    kernels::gemm<float>(ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, m, n, k);
  st.SetLabel(std::string(kernels::arch_name()));
}
BENCHMARK(BM_Sgemm)->Apply(gemm_shapes)->UseRealTime();

#ifdef ELBO_BENCH_OPENBLAS
static void BM_OpenblasSgemm(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2);
  const bool ta = st.range(3), tb = st.range(4);
  openblas_set_num_threads(int(st.range(5)));
  const auto a = filled(size_t(m * k), 1), b = filled(size_t(k * n), 2);
  std::vector<float> c(size_t(m * n));
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
                1.0f, a.data(), int(ta ? m : k), b.data(), int(tb ? k : n), 0.0f, c.data(), int(n));
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, m, n, k);
}
BENCHMARK(BM_OpenblasSgemm)->Apply(gemm_shapes)->UseRealTime();
#endif

// The FMA peak of the instruction set the kernels run (ELBO_ARCH may force it), per thread count: twelve
// independent chains of fused multiply-adds in the widest registers of that set (SSE2 has no FMA: a
// multiply and an add count as one), one chain set per thread. The yardstick for "the step's time against
// its FMA-bound time" in bench/compare.py.
namespace {
constexpr int kChains = 12;
__attribute__((target("avx512f"))) float fma_chains_avx512(int64_t n) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(0.001f * float(i));
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  for (int64_t k = 0; k < n; ++k)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  for (int i = 1; i < kChains; ++i) a[0] = _mm512_add_ps(a[0], a[i]);
  alignas(64) float out[16];
  _mm512_store_ps(out, a[0]);
  return out[0] + out[15];
}
__attribute__((target("avx2,fma"))) float fma_chains_avx2(int64_t n) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(0.001f * float(i));
  const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.001f);
  for (int64_t k = 0; k < n; ++k)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  for (int i = 1; i < kChains; ++i) a[0] = _mm256_add_ps(a[0], a[i]);
  return _mm_cvtss_f32(_mm256_castps256_ps128(a[0]));
}
float fma_chains_sse2(int64_t n) {
  __m128 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm_set1_ps(0.001f * float(i));
  const __m128 b = _mm_set1_ps(0.999f), c = _mm_set1_ps(0.001f);
  for (int64_t k = 0; k < n; ++k)
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm_add_ps(_mm_mul_ps(a[i], b), c);
  for (int i = 1; i < kChains; ++i) a[0] = _mm_add_ps(a[0], a[i]);
  return _mm_cvtss_f32(a[0]);
}
}  // namespace

static void BM_FmaPeak(benchmark::State& st) {
  const int threads = int(st.range(0));
  const std::string arch(kernels::arch_name());
  const int lanes = arch == "avx512" ? 16 : arch == "avx2" ? 8 : 4;
  float (*chains)(int64_t) = arch == "avx512" ? fma_chains_avx512 : arch == "avx2" ? fma_chains_avx2 : fma_chains_sse2;
  constexpr int64_t n = 1 << 20;
  set_num_threads(threads);
  for (auto _ : st) {
    kernels::parallel_for(threads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) benchmark::DoNotOptimize(chains(n));
    });
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(n) * kChains * lanes * threads,
                                              benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  st.SetLabel(arch);
}
BENCHMARK(BM_FmaPeak)->Arg(1)->Arg(2)->ArgName("threads")->UseRealTime();

// Elementwise kernels (SIMD, dispatched) beside their scalar twins, single-threaded.
static void BM_UnaryKernel(benchmark::State& st) {
  const auto op = kernels::Unary(st.range(0));
  const size_t n = size_t(st.range(1));
  const auto x = filled(n, 3);
  std::vector<float> y(n);
  set_num_threads(1);
  for (auto _ : st) {
    kernels::unary<float>(op, x, y);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(n) * 8);
}
static void BM_UnaryKernelScalar(benchmark::State& st) {
  const auto op = kernels::Unary(st.range(0));
  const size_t n = size_t(st.range(1));
  const auto x = filled(n, 3);
  std::vector<float> y(n);
  for (auto _ : st) {
    kernels::ref::unary<float>(op, x, y);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(n) * 8);
}
static void unary_args(benchmark::internal::Benchmark* b) {
  for (auto op : {kernels::Unary::exp, kernels::Unary::relu, kernels::Unary::sigmoid, kernels::Unary::softplus})
    b->Args({int64_t(op), 128 * 784});
  b->ArgNames({"op", "n"});
}
BENCHMARK(BM_UnaryKernel)->Apply(unary_args);
BENCHMARK(BM_UnaryKernelScalar)->Apply(unary_args);

static void BM_AddBroadcast(benchmark::State& st) {  // the bias add of a [128, 400] layer
  Generator gen(1);
  const Tensor x = randn({128, 400}, gen), b = randn({400}, gen);
  set_num_threads(1);
  for (auto _ : st) benchmark::DoNotOptimize(add(x, b).raw());
  st.SetBytesProcessed(int64_t(st.iterations()) * 128 * 400 * 8);
}
BENCHMARK(BM_AddBroadcast);

// Forward + backward through the tape of one elementwise op over a VAE-sized activation.
static void BM_SigmoidFwdBwd(benchmark::State& st) {
  Generator gen(1);
  Tensor x = randn({128, 784}, gen).requires_grad_();
  set_num_threads(1);
  for (auto _ : st) {
    sum(sigmoid(x)).backward();
    x.set_grad(Tensor());
  }
  st.SetItemsProcessed(int64_t(st.iterations()) * 128 * 784);
}
BENCHMARK(BM_SigmoidFwdBwd);

// The fixed cost of one recorded op: a 1-element add with the tape on.
static void BM_TinyOpOverhead(benchmark::State& st) {
  Tensor a = ones({1}).requires_grad_(), b = ones({1});
  for (auto _ : st) benchmark::DoNotOptimize(add(a, b).raw());
}
BENCHMARK(BM_TinyOpOverhead);
