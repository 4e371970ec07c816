// Convolution benchmarks: forward + backward through the tape (gradients for input, weight and bias) at
// the conv VAE's layers (bench/torch_steps.py's ConvVAE), batch 128, kernel 4, stride 2, padding 1:
//   encoder  Conv2d(1, 32) on 28x28, Conv2d(32, 64) on 14x14
//   decoder  ConvTranspose2d(64, 32) on 7x7, ConvTranspose2d(32, 1) on 14x14
// Items are examples (images) per second.
#include <benchmark/benchmark.h>

#include <elbo/elbo.h>

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
