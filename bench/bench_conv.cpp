// Convolution benchmarks: forward + backward through the tape (gradients for input, weight and bias) at
// the conv VAE's layers (bench/torch_steps.py's ConvVAE), batch 128, kernel 4, stride 2, padding 1:
//   encoder  Conv2d(1, 32) on 28x28, Conv2d(32, 64) on 14x14
//   decoder  ConvTranspose2d(64, 32) on 7x7, ConvTranspose2d(32, 1) on 14x14
// Items are examples (images) per second. Then the three conv kernels beside their scalar twins.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <autograd/kernels/kernels.h>
#include <autograd/kernels/ref.h>
#include <elbo/elbo.h>
#include <vector>

using namespace elbo;

namespace {

constexpr int64_t kBatch = 128;

// Args: in_channels, out_channels, input size, threads.
void encoder_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({1, 32, 28, threads});
    b->Args({32, 64, 14, threads});
  }
  b->ArgNames({"in", "out", "size", "threads"});
}
void decoder_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t threads : {1, 2}) {
    b->Args({64, 32, 7, threads});
    b->Args({32, 1, 14, threads});
  }
  b->ArgNames({"in", "out", "size", "threads"});
}

template <class Op> void fwd_bwd(benchmark::State& st, const Shape& w_shape, int64_t out_channels, Op op) {
  const int64_t in = st.range(0), size = st.range(2);
  set_num_threads(int(st.range(3)));
  Generator gen(1);
  Tensor x = randn({kBatch, in, size, size}, gen).requires_grad_();
  Tensor w = (randn(w_shape, gen) * 0.05).detach().requires_grad_();
  Tensor b = (randn({out_channels}, gen) * 0.05).detach().requires_grad_();
  for (auto _ : st) {
    Tensor y = op(x, w, b);
    sum(y).backward();
    benchmark::DoNotOptimize(x.grad().raw());
    for (Tensor* t : {&x, &w, &b}) t->set_grad(Tensor());
  }
  st.SetItemsProcessed(int64_t(st.iterations()) * kBatch);
}

}  // namespace

static void BM_Conv2dFwdBwd(benchmark::State& st) {
  const int64_t in = st.range(0), out = st.range(1);
  fwd_bwd(st, {out, in, 4, 4}, out,
          [](const Tensor& x, const Tensor& w, const Tensor& b) { return conv2d(x, w, b, 2, 1); });
}
BENCHMARK(BM_Conv2dFwdBwd)->Apply(encoder_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);

static void BM_ConvTranspose2dFwdBwd(benchmark::State& st) {
  const int64_t in = st.range(0), out = st.range(1);
  fwd_bwd(st, {in, out, 4, 4}, out,
          [](const Tensor& x, const Tensor& w, const Tensor& b) { return conv_transpose2d(x, w, b, 2, 1); });
}
BENCHMARK(BM_ConvTranspose2dFwdBwd)->Apply(decoder_shapes)->UseRealTime()->Unit(benchmark::kMillisecond);

// The three conv kernels beside their scalar twins (kernels/ref, long double sums) on the conv VAE's
// 32 -> 64 channel layer, batch 4. Args: pass (0 forward, 1 input gradient, 2 weight gradient).
namespace {
const kernels::ConvGeom kMid{4, 32, 14, 14, 64, 4, 4, 7, 7, 2, 1};

template <bool kTwin> void conv_kernel(benchmark::State& st) {
  const kernels::ConvGeom& g = kMid;
  set_num_threads(1);
  Generator gen(3);
  const auto x = rand({g.n, g.c, g.h, g.w}, gen).to_vector<float>();
  const auto w = rand({g.o, g.c, g.kh, g.kw}, gen).to_vector<float>();
  const auto y = rand({g.n, g.o, g.ho, g.wo}, gen).to_vector<float>();
  std::vector<float> out(std::max(x.size(), std::max(w.size(), y.size()))), work(size_t(kernels::conv_workspace(g, 4)));
  for (auto _ : st) {
    switch (st.range(0)) {
      case 0:
        kTwin ? kernels::ref::conv_forward<float>(g, x.data(), w.data(), nullptr, out.data())
              : kernels::conv_forward<float>(g, x.data(), w.data(), nullptr, out.data(), work.data());
        break;
      case 1:
        kTwin ? kernels::ref::conv_input_grad<float>(g, y.data(), w.data(), nullptr, out.data())
              : kernels::conv_input_grad<float>(g, y.data(), w.data(), nullptr, out.data(), work.data());
        break;
      default:
        kTwin ? kernels::ref::conv_weight_grad<float>(g, x.data(), y.data(), out.data())
              : kernels::conv_weight_grad<float>(g, x.data(), y.data(), out.data(), work.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(g.n * g.o * g.ho * g.wo * g.c * g.kh * g.kw),
                                              benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
}  // namespace

static void BM_ConvKernel(benchmark::State& st) { conv_kernel<false>(st); }
static void BM_ConvKernelScalarTwin(benchmark::State& st) { conv_kernel<true>(st); }
BENCHMARK(BM_ConvKernel)->DenseRange(0, 2)->ArgName("pass")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvKernelScalarTwin)->DenseRange(0, 2)->ArgName("pass")->Unit(benchmark::kMillisecond);
