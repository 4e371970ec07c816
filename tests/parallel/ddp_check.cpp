// Data-parallel training checked under mpirun (tests/parallel/CMakeLists.txt runs it on 2 ranks):
//   ddp_check equivalence  the zoo's autoencoder (a deterministic loss) on 2 ranks x global batch 128
//                          against 1 process x batch 128, 100 Adam steps: parameters bitwise identical
//                          across ranks after every step, and within the bound below of the one-process run
//   ddp_check vae          the zoo's VAE (each rank its own noise), small buckets, all-reduces started during
//                          the backward pass or after it: bitwise identical across ranks every step
//   ddp_check optimizer    rank 0's Adam state reaches a fresh optimizer on every rank
//   ddp_check stall        rank 1 stops answering: rank 0's all-reduce gives up after ELBO_MPI_TIMEOUT
//   ddp_check die          rank 1 dies mid-training: mpirun ends the job (no hang)
// Prints one line per check and exits non-zero on a failure.
//
// The bound. A gradient element is a sum of 128 per-example terms t_i; one process adds them in one
// order, two ranks add two halves of 64 and then the halves. Each float32 sum of n terms carries an error
// of at most gamma_n sum |t_i| with gamma_n = n u / (1 - n u), u = 2^-24 (Higham, Accuracy and Stability
// of Numerical Algorithms, 2002, eq. 4.4), so the two gradients differ by at most 2 gamma_128 sum |t_i|
// ~ 1.5e-5 sum |t_i| per step. Adam's step is bounded by lr per coordinate whatever the gradient, but its
// direction follows the gradient's sign, so the runs can drift apart where a gradient is near zero; the
// check holds them to 1e-3 relative (1e-4 absolute) after 100 steps and reports the largest difference.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <elbo/elbo.h>
#include <string>
#include <thread>

using namespace elbo;

namespace {

int failures = 0;
void report(parallel::Communicator& comm, bool ok, const std::string& what) {
  if (!ok) ++failures;
  if (comm.rank() == 0) std::printf("%s: %s\n", ok ? "ok" : "FAILED", what.c_str());
  std::fflush(stdout);
}

uint64_t params_fingerprint(const nn::Module& m) {
  uint64_t h = parallel::fingerprint("");
  for (const auto& [name, p] : m.named_parameters())
    h = parallel::fingerprint(std::string_view(static_cast<const char*>(p.raw()), size_t(p.numel()) * 4), h);
  return h;
}

bool same_everywhere(parallel::Communicator& comm, uint64_t v) {
  try {
    parallel::check_same(comm, v, "parameters");
    return true;
  } catch (const parallel::CollectiveError&) {
    return false;
  }
}

// Fixed binary images, the same on every rank.
Tensor data(int64_t n) {
  Generator g(42);
  return bernoulli(rand({n, 784}, g) * 0.6, g);
}

models::VaeOptions small() {
  models::VaeOptions o;
  o.hidden = 64, o.latent = 8;
  return o;
}

void equivalence(parallel::Communicator& comm) {
  const int64_t batch = 128, steps = 100;
  const Tensor x = data(batch * 4);
  Generator g1(1), g2(1);
  models::Autoencoder dp(small(), g1), ref(small(), g2);  // the same initial weights
  optim::Adam opt_dp(dp.parameters(), {.lr = 1e-3}), opt_ref(ref.parameters(), {.lr = 1e-3});
  parallel::GradientReducer reducer(comm, dp.parameters());
  const int r = comm.rank(), n = comm.size();
  bool identical = true;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t glo = (step % 4) * batch;
    const int64_t lo = glo + batch * r / n, hi = glo + batch * (r + 1) / n;
    opt_dp.zero_grad();
    (-mean(dp.log_likelihood(narrow(x, 0, lo, hi - lo))) * (double(hi - lo) / double(batch))).backward();
    reducer.all_reduce();
    opt_dp.step();
    identical = identical && same_everywhere(comm, params_fingerprint(dp));
    opt_ref.zero_grad();  // one process, the whole batch
    (-mean(ref.log_likelihood(narrow(x, 0, glo, batch)))).backward();
    opt_ref.step();
  }
  report(comm, identical, "autoencoder: parameters bitwise identical across ranks after each of 100 steps");
  double worst = 0, worst_rel = 0;
  bool close = true;
  const auto a = dp.parameters(), b = ref.parameters();
  for (size_t k = 0; k < a.size(); ++k) {
    const auto va = a[k].to_vector<double>(), vb = b[k].to_vector<double>();
    for (size_t i = 0; i < va.size(); ++i) {
      const double d = std::abs(va[i] - vb[i]);
      worst = std::max(worst, d);
      worst_rel = std::max(worst_rel, d / (std::abs(vb[i]) + 1e-12));
      close = close && d <= 1e-4 + 1e-3 * std::abs(vb[i]);
    }
  }
  report(comm, close, fmt::format("autoencoder: {} ranks x global batch 128 vs 1 process x 128 after 100 Adam steps: "
                                  "largest parameter difference {:.3g} (relative {:.3g}); bound 1e-4 + 1e-3 |p|",
                                  n, worst, worst_rel));
  double loss_dp = 0, loss_ref = 0;
  {
    NoGradGuard ng;
    loss_dp = -mean(dp.log_likelihood(x)).item(), loss_ref = -mean(ref.log_likelihood(x)).item();
  }
  report(comm, std::abs(loss_dp - loss_ref) <= 1e-3 * std::abs(loss_ref),
         fmt::format("autoencoder: loss on the data {:.6f} (ranks) vs {:.6f} (one process)", loss_dp, loss_ref));
}

void vae(parallel::Communicator& comm) {
  const Tensor x = data(512);
  Generator init(3), noise(100 + uint64_t(comm.rank()));  // rank-specific sampling
  models::VAE m(small(), init);
  optim::Adam opt(m.parameters(), {.lr = 1e-3});
  parallel::GradientReducer reducer(comm, m.parameters(), 64 << 10);  // small buckets: several in flight
  bool identical = true;
  double first = 0, last = 0;
  for (int64_t step = 1; step <= 60; ++step) {
    const int64_t glo = (step % 4) * 128, lo = glo + 64 * comm.rank();
    opt.zero_grad();
    const Tensor loss = models::loss(m, narrow(x, 0, lo, 64), noise, {}, step);
    if (step % 2 == 0) reducer.begin_backward();  // every other step the buckets go out during the backward pass
    (loss * 0.5).backward();
    double sum[1] = {loss.item() * 64};
    reducer.all_reduce(sum);
    opt.step();
    identical = identical && same_everywhere(comm, params_fingerprint(m));
    (step == 1 ? first : last) = sum[0] / 128;
  }
  report(comm, identical, fmt::format("VAE: bitwise identical across ranks after each of 60 steps ({} buckets)",
                                      reducer.buckets()));
  report(comm, last < first, fmt::format("VAE: the global loss fell from {:.2f} to {:.2f}", first, last));
}

void optimizer(parallel::Communicator& comm) {
  Generator g(5);
  models::VAE m(small(), g);
  optim::Adam opt(m.parameters(), {.lr = 1e-3});
  if (comm.rank() == 0)
    for (int i = 0; i < 3; ++i) {  // only rank 0 has state
      opt.zero_grad();
      models::loss(m, data(64), g, {}, i + 1).backward();
      opt.step();
    }
  parallel::broadcast_module(comm, m);
  parallel::broadcast_optimizer(comm, opt);
  uint64_t h = params_fingerprint(m);
  for (const auto& [name, t] : opt.state_dict())
    h = parallel::fingerprint(std::string_view(static_cast<const char*>(t.raw()),
                                               size_t(t.numel()) * (t.dtype() == DType::f32 ? 4 : 8)),
                              parallel::fingerprint(name, h));
  report(comm, same_everywhere(comm, h), "rank 0's model and Adam state (after 3 steps) reach every rank");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "equivalence";
  std::unique_ptr<parallel::Communicator> comm = parallel::make_world();
  set_num_threads(1);
  try {
    if (mode == "equivalence") equivalence(*comm);
    else if (mode == "vae") vae(*comm);
    else if (mode == "optimizer") optimizer(*comm);
    else if (mode == "stall" || mode == "die") {
      float v[4] = {1, 2, 3, 4};
      comm->all_reduce(std::span<float>(v), parallel::Reduce::sum);  // both ranks answer once
      if (comm->rank() == 1) {
        if (mode == "die") _exit(7);  // as a crash would
        std::this_thread::sleep_for(std::chrono::seconds(60));  // stops answering
      }
      comm->all_reduce(std::span<float>(v), parallel::Reduce::sum);  // rank 0 waits here
      std::printf("rank %d: the second all-reduce returned\n", comm->rank());
      return 5;  // must not get here on rank 0
    } else {
      std::fprintf(stderr, "ddp_check: unknown mode %s\n", mode.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddp_check: rank %d: %s\n", comm->rank(), e.what());
    std::fflush(stderr);
    parallel::abort_job(3);
  }
  if (comm->size() < 2) std::printf("note: %d rank(s); run under mpirun -np 2\n", comm->size());
  return failures == 0 ? 0 : 1;
}
