// Memory (issue 7, promise 7): MLP VAE training steps as the zoo's loop runs them (a shuffled batch,
// dynamic binarization, the loss, zero_grad, backward, an Adam step, the loss read back, a no-grad
// evaluation now and then) keep the resident set flat once warm: no leak per step, no growth of the tape,
// the caching allocator or the optimizer state.
//   test_soak (in every ctest run): 500 steps, growth after 100 warm-up steps under 2%.
//   soak_10000_steps (on demand: ctest --test-dir build -C soak -L soak): 10,000 steps, growth after 1,000
//   warm-up steps under 1%.
// Under AddressSanitizer the resident set measures ASan's quarantine, not elbo, so there only the steps
// run and LeakSanitizer checks at exit that nothing leaked.
#include <unistd.h>

#include <cmath>
#include <fstream>

#include <models/dataset.h>
#include <models/vae.h>

#include "test_util.h"

using namespace elbo;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMeasure = false;
#else
constexpr bool kMeasure = true;
#endif

// Resident set size from /proc/self/statm (its second field, in pages).
double rss_mb() {
  std::ifstream f("/proc/self/statm");
  size_t size = 0, resident = 0;
  f >> size >> resident;
  REQUIRE(resident > 0);
  return double(resident) * double(sysconf(_SC_PAGESIZE)) / double(1 << 20);
}

// Trains for `steps` steps and returns the relative RSS growth from the end of step `warmup` to the end.
double soak(int steps, int warmup) {
  Generator gen(3);
  models::VaeOptions o;
  o.hidden = 100;
  o.latent = 10;
  models::VAE vae(o, gen);
  optim::Adam opt(vae.parameters(), {.lr = 1e-3});
  const models::Objective obj;
  const int64_t n = 1024, batch = 32, per_epoch = n / batch;
  const Tensor data = rand({n, 784}, gen), test = bernoulli(rand({256, 784}, gen), gen);
  std::vector<int64_t> order;
  double base = 0;
  for (int step = 0; step < steps; ++step) {
    if (step % per_epoch == 0) order = models::permutation(n, gen);
    const int64_t lo = (step % per_epoch) * batch;
    const Tensor x = models::binarize(models::rows(data, order, lo, lo + batch), models::Binarize::dynamic, gen);
    const Tensor loss = models::loss(vae, x, gen, obj, step + 1);
    const double l = loss.item();
    REQUIRE(std::isfinite(l));
    opt.zero_grad();
    loss.backward();
    opt.step();
    if ((step + 1) % 50 == 0) {  // the per-epoch evaluation (the first falls inside the warm-up)
      NoGradGuard ng;
      REQUIRE(std::isfinite(mean(models::elbo(vae, test, gen).elbo).item()));
    }
    if (step + 1 == warmup) base = rss_mb();
  }
  const double end = rss_mb();
  MESSAGE(steps, " steps: RSS ", base, " MB after ", warmup, " warm-up steps, ", end, " MB at the end");
  return (end - base) / base;
}

}  // namespace

TEST_CASE("memory soak short: 500 training steps keep RSS growth after warm-up under 2%") {
  const double growth = soak(500, 100);
  if (kMeasure) CHECK(growth < 0.02);
}

TEST_CASE("memory soak: 10000 training steps keep RSS growth after warm-up under 1%" * doctest::skip()) {
  const double growth = soak(10000, 1000);
  if (kMeasure) CHECK(growth < 0.01);
}
