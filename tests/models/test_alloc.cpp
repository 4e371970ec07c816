// A training step in steady state never reaches the heap: tensor storage comes from the caching
// allocator; handles, tape nodes, closures and shape lists from the small-object pools (allocator.h).
// alloc_counter.h counts every allocation of this program.
#include <cmath>

#include "alloc_counter.h"
#include "autograd/allocator.h"
#include "models/hierarchical.h"
#include "models/seqvae.h"
#include "models/vae.h"
#include "nn/optim.h"
#include "models/autoencoder.h"
#include "models/ssvae.h"
#include "models/vi.h"
#include "test_util.h"
#include "tools/ssvae_task.h"
#include "tools/vqvae_task.h"
#include "tools/tasks.h"
#include "zoo_configs.h"

#include <string>

using namespace elbo;

namespace {
// Runs step three times to warm the caches, then three more, which must reach neither the heap nor the
// system allocator (ELBO_TRACE_ALLOCATIONS=1 prints each offender's stack).
template <class Step> void check_allocates_nothing(Step step) {
  for (int i = 0; i < 3; ++i) step();
  const int64_t before = testing::heap_allocations.load();
  const size_t storage_before = detail::allocator_stats().system_allocations;
  testing::trace_allocations = true;
  double last = 0;
  for (int i = 0; i < 3; ++i) last = step();
  testing::trace_allocations = false;
  CHECK(std::isfinite(last));
  CHECK(testing::heap_allocations.load() - before == 0);
  CHECK(detail::allocator_stats().system_allocations - storage_before == 0);
}
}  // namespace

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

TEST_CASE("a sequence VAE training step (recurrent layers, mixture, clipping, Adam) allocates nothing") {
  const char* off = std::getenv("ELBO_NO_CACHE");
  if (off && std::string(off) == "1") return;  // the VAE case above checks that the counters count
  const int prev_threads = num_threads();
  Generator data(3);
  models::StrokeSet s;
  s.scale = 30;
  for (int i = 0; i < 12; ++i) {  // characters of 3 to 20 points
    const int n = 3 + int(data.uniform() * 18);
    std::vector<int16_t> xy;
    std::vector<uint8_t> pen;
    for (int k = 0; k < n; ++k) {
      xy.push_back(int16_t(data.uniform() * 100 - 50)), xy.push_back(int16_t(data.uniform() * 100 - 50));
      pen.push_back(k % 4 == 3 || k + 1 == n);
    }
    s.add(uint32_t(i), xy, pen);
  }
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 12; ++i) ids.push_back(i);
  const Tensor x = models::stroke5_batch(s, ids, 0, 12);
  for (const models::CellKind cell : {models::CellKind::lstm, models::CellKind::gru}) {
    for (int threads : {1, 2}) {
      CAPTURE(threads);
      set_num_threads(threads);
      Generator gen(1);
      models::SeqVae m({.latent = 8, .enc_hidden = 16, .dec_hidden = 32, .mixtures = 5, .cell = cell}, gen);
      optim::Adam opt(m.parameters(), {.lr = 1e-3});
      const std::vector<Tensor> params = m.parameters();
      auto step = [&] {
        opt.zero_grad();
        const Tensor loss = models::loss(m, x, gen, {.warmup_steps = 100, .free_bits = 0.1}, 50);
        loss.backward();
        optim::clip_grad_norm_(params, 1.0);
        opt.step();
        return loss.item();
      };
      check_allocates_nothing(step);
    }
  }
  set_num_threads(prev_threads);
}

TEST_CASE("a hierarchical VAE training step (Burda et al.'s one and two layers, ELBO and IWAE) allocates nothing") {
  const char* off = std::getenv("ELBO_NO_CACHE");
  if (off && std::string(off) == "1") return;  // the VAE case above checks that the counters count
  const int prev_threads = num_threads();
  for (int64_t layers : {1, 2}) {
    for (int64_t iw : {0, 5}) {
      for (int threads : {1, 2}) {
        CAPTURE(layers);
        CAPTURE(iw);
        CAPTURE(threads);
        set_num_threads(threads);
        Generator gen(1);
        auto m = models::make_burda(layers, 784, gen);
        const Tensor x = bernoulli(rand({20, 784}, gen), gen);
        models::init_output_bias(*m, mean(x, {0}));
        optim::Adam opt(m->parameters(), {.lr = 1e-3, .betas = {0.99, 0.999}, .eps = 1e-4});
        models::Objective obj;
        obj.kl = models::KlEstimate::monte_carlo;  // as elbo-vae --arch burda trains
        obj.samples = iw > 0 ? 1 : 2;
        obj.iw = iw;
        auto step = [&] {
          opt.zero_grad();
          const Tensor loss = models::loss(*m, x, gen, obj, 1);
          loss.backward();
          opt.step();
          return loss.item();
        };
        check_allocates_nothing(step);
      }
    }
  }
  set_num_threads(prev_threads);
}

// Every configuration of tests/zoo_configs.h (the table bench/compare.py --zoo prints), the autoencoder
// and non-amortized VI's training visit: none reaches the heap in steady state. 16 hidden units: the ops
// and their allocations are the full-size model's, at a cost the sanitizer build can run (categorical:256's
// decoder has 200,704 outputs; with 400 hidden units its steps took minutes there).
namespace {
// A task's training step as training's loop runs it (loss, backward, Adam, after_step), returning the loss.
auto task_step(training::Task& task, optim::Adam& opt, const Tensor& x, const std::vector<int64_t>& ids,
               Generator& gen) {
  return [&task, &opt, &x, &ids, &gen, step = int64_t(0)]() mutable {
    opt.zero_grad();
    const Tensor loss = task.loss(x, ids, gen, ++step);
    loss.backward();
    opt.step();
    task.after_step();
    return loss.item();
  };
}
}  // namespace

TEST_CASE("every zoo configuration's training step allocates nothing in steady state") {
  const char* off = std::getenv("ELBO_NO_CACHE");
  if (off && std::string(off) == "1") return;
  const int prev_threads = num_threads();
  auto allocations = [](auto step) {
    for (int i = 0; i < 3; ++i) step();
    const int64_t before = testing::heap_allocations.load();
    testing::trace_allocations = true;
    double last = 0;
    for (int i = 0; i < 3; ++i) last = step();
    testing::trace_allocations = false;
    CHECK(std::isfinite(last));
    return (testing::heap_allocations.load() - before) / 3;
  };
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (std::string_view key : testing::kZooConfigs) {
      CAPTURE(key);
      CAPTURE(threads);
      Generator gen(1);
      models::VaeOptions o = testing::zoo_options(key);
      o.hidden = 16;
      models::VAE vae(o, gen);
      optim::Adam opt(vae.parameters(), {.lr = 1e-3});
      const Tensor x = testing::zoo_input(o, 16, gen);
      const int64_t made = allocations([&] {
        opt.zero_grad();
        const Tensor loss = models::loss(vae, x, gen, models::Objective{}, 1);
        loss.backward();
        opt.step();
        return loss.item();
      });
      CHECK(made == 0);
    }
    {
      Generator gen(1);
      models::Autoencoder ae(models::VaeOptions{}, gen);
      optim::Adam opt(ae.parameters(), {.lr = 1e-3});
      const Tensor x = bernoulli(rand({16, 784}, gen), gen);
      CHECK(allocations([&] {
              opt.zero_grad();
              const Tensor loss = -mean(ae.log_likelihood(x));
              loss.backward();
              opt.step();
              return loss.item();
            }) == 0);
    }
    {
      Generator gen(1);
      models::DecoderModel model(models::VaeOptions{}, gen);
      zoo::ViTask task(model, 100, zoo::ViOptions{});
      optim::Adam opt(model.parameters(), {.lr = 1e-3});
      const Tensor x = bernoulli(rand({16, 784}, gen), gen);
      std::vector<int64_t> ids;
      for (int64_t i = 0; i < 16; ++i) ids.push_back((i * 7) % 100);
      CHECK(allocations(task_step(task, opt, x, ids, gen)) == 0);
    }
    {  // elbo-ssvae's M2 step: the batch with y summed out, and a labelled batch drawn and binarized
      Generator gen(1);
      models::Dataset train;
      train.images = rand({40, 784}, gen), train.height = 28, train.width = 28;
      train.labels = remainder(arange(40), full({}, 10.0, DType::i64));
      training::ImageData data(train, train, models::Binarize::dynamic, 1);
      models::SsvaeOptions so;
      so.vae.hidden = 16, so.classifier_hidden = 16;
      models::SemiSupervisedVae m(so, gen);
      std::vector<int64_t> labelled, ids;
      for (int64_t i = 0; i < 40; ++i) (i < 16 ? ids : labelled).push_back(i);
      zoo::SemiSupervisedTask task(m, data, labelled, zoo::SsvaeObjective{.labelled_batch = 8});
      optim::Adam opt(m.parameters(), {.lr = 1e-3});
      const Tensor x = data.train_batches().batch(ids, 0, 16, gen);
      CHECK(allocations(task_step(task, opt, x, ids, gen)) == 0);
    }
    {  // elbo-vqvae's step, with restarts (an untrained codebook leaves codes unused at batch 16)
      Generator gen(1);
      models::VqVaeOptions vo;
      vo.hidden = 8, vo.codes = 32, vo.code_dim = 4, vo.quantizer.restart_after = 1;
      models::VqVae m(vo, gen);
      zoo::VqVaeTask task(m);
      optim::Adam opt(m.parameters(), {.lr = 1e-3});
      const Tensor x = bernoulli(rand({16, 784}, gen), gen);
      std::vector<int64_t> ids(16);
      CHECK(allocations(task_step(task, opt, x, ids, gen)) == 0);
    }
  }
  set_num_threads(prev_threads);
}
