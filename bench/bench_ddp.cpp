// Data-parallel training steps, timed: the zoo's MLP or conv VAE at a global batch, on however many ranks
// mpirun starts (one process without it). Each step is elbo's trainer's: each rank's share of the batch,
// forward, backward, the bucketed all-reduce of the gradients, Adam. bench/torch_ddp.py times the same
// steps with PyTorch's DistributedDataParallel (gloo); bench/compare_ddp.py runs the table.
//   mpirun --oversubscribe -np 2 bench_ddp --model mlp --batch 128 --threads 1 [--steps 200]
//       [--overlap 1|0] [--bucket-mb 25]
// Prints one JSON line (rank 0): median step time, examples per second, all-reduce time per step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <autograd/kernels/kernels.h>
#include <elbo/elbo.h>
#include <string>
#include <vector>

using namespace elbo;

int main(int argc, char** argv) {
  std::string model = "mlp";
  int64_t batch = 128, steps = 200, warmup = 20;
  int threads = 1;
  bool overlap = true;   // start the buckets' all-reduces during the backward pass (as the trainer)
  double bucket_mb = 25;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--batch") batch = std::stoll(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--overlap") overlap = v == "1";
    else if (k == "--bucket-mb") bucket_mb = std::stod(v);
    else {
      std::fprintf(stderr, "bench_ddp: unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  const auto comm = parallel::make_world();
  const int rank = comm->rank(), ranks = comm->size();
  if (batch % ranks != 0) {
    if (rank == 0) std::fprintf(stderr, "bench_ddp: --batch %lld is not divisible by %d ranks\n", (long long)batch, ranks);
    return 2;
  }
  set_num_threads(threads);
  Generator init(1), noise(7 + uint64_t(rank));
  models::VaeOptions o;
  o.arch = model == "conv" ? models::Arch::conv : models::Arch::mlp;
  models::VAE vae(o, init);
  optim::Adam opt(vae.parameters(), {.lr = 1e-3});
  std::unique_ptr<parallel::GradientReducer> reducer;
  if (ranks > 1)
    reducer = std::make_unique<parallel::GradientReducer>(*comm, vae.parameters(), size_t(bucket_mb * (1 << 20)));
  const int64_t local = batch / ranks;
  Generator data(3);
  const Tensor x = bernoulli(rand({4 * batch, 784}, data), data);
  std::vector<double> times;
  double reduce_before = 0;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    if (s == warmup) reduce_before = reducer ? reducer->seconds() : 0;
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t lo = (s % 4) * batch + rank * local;
    opt.zero_grad();
    const Tensor loss = models::loss(vae, narrow(x, 0, lo, local), noise, {}, s + 1);
    if (reducer && overlap) reducer->begin_backward();
    (ranks > 1 ? loss * (1.0 / ranks) : loss).backward();
    if (reducer) reducer->all_reduce();
    opt.step();
    if (s >= warmup) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  // the slowest rank's median sets the pace; report rank 0's, which waits for it in the all-reduce
  if (rank == 0)
    std::printf("{\"name\": \"DdpStep/%s/%lld\", \"ranks\": %d, \"threads_per_rank\": %d, \"ms_median\": %.4f, "
                "\"examples_per_sec\": %.1f, \"allreduce_ms_per_step\": %.4f, \"overlap\": %d, \"bucket_mb\": %g, \"kernels\": \"%s\", "
                "\"comm\": \"%s\"}\n",
                model.c_str(), (long long)batch, ranks, threads, median * 1e3, double(batch) / median,
                reducer ? 1e3 * (reducer->seconds() - reduce_before) / double(steps) : 0.0, int(overlap), bucket_mb,
                std::string(kernels::arch_name()).c_str(), comm->name().c_str());
  return 0;
}
