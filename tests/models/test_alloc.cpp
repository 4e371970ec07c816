// A training step in steady state never reaches the heap: tensor storage comes from the caching
// allocator; handles, tape nodes, closures and shape lists from the small-object pools (allocator.h).
// alloc_counter.h counts every allocation of this program.
#include <cmath>

#include "alloc_counter.h"
#include "autograd/allocator.h"
#include "models/vae.h"
#include "nn/optim.h"
#include "test_util.h"

using namespace elbo;

TEST_CASE("a VAE training step (forward, backward, Adam) allocates nothing in steady state") {
  const char* off = std::getenv("ELBO_NO_CACHE");
  const bool caching = !(off && std::string(off) == "1");
  const int prev_threads = num_threads();
  for (const models::Arch arch : {models::Arch::mlp, models::Arch::conv}) {
    for (int threads : {1, 2}) {
      CAPTURE(models::arch_name(arch));
      CAPTURE(threads);
      set_num_threads(threads);
      Generator gen(1);
      models::VaeOptions o;
      o.arch = arch;
      models::VAE vae(o, gen);
      optim::Adam opt(vae.parameters(), {.lr = 1e-3});
      const Tensor x = bernoulli(rand({16, 784}, gen), gen);
      auto step = [&] {
        opt.zero_grad();
        const Tensor loss = models::loss(vae, x, gen, models::Objective{}, 1);
        loss.backward();
        opt.step();
        return loss.item();
      };
      for (int i = 0; i < 3; ++i) step();
      const int64_t before = testing::heap_allocations.load();
      const size_t storage_before = detail::allocator_stats().system_allocations;
      double last = 0;
      for (int i = 0; i < 3; ++i) last = step();
      const int64_t made = testing::heap_allocations.load() - before;
      const size_t storage = detail::allocator_stats().system_allocations - storage_before;  // aligned_alloc
      CHECK(std::isfinite(last));
      if (caching) {
        CHECK(made == 0);
        CHECK(storage == 0);
      } else {
        CHECK(made > 0);  // the counters do count: with the caches off every block is a system call
        CHECK(storage > 0);
      }
    }
  }
  set_num_threads(prev_threads);
}
