// Model benchmarks: one full training step (forward, backward, Adam) of the zoo's models, as
// BM_VaeMlpTrainStep/<batch>/<threads> and BM_ConvVaeTrainStep/<batch>/<threads>, the MLP VAE under a
// mixture prior (the Monte Carlo KL path) as BM_VaeMixturePriorTrainStep/<batch>/<threads>, every elbo-vae
// configuration as BM_ZooStep/<key>/<batch>/<threads> (tests/zoo_configs.h), the autoencoder, non-amortized
// VI's training visit and per-example searches, the sequence VAE, Burda et al.'s models, and the importance-
// sampled evaluation of --iw. bench/torch_steps.py times the same steps in PyTorch; bench/compare.py runs
// both and prints the ratio tables (--zoo: the zoo's). Each step also reports its heap allocations
// (operator new calls, counted by tests/alloc_counter.h; none in steady state is the aim) and, where the
// twins report theirs too, its parameter count.
#include <benchmark/benchmark.h>

#include <elbo/elbo.h>
#include <autograd/kernels/kernels.h>
#include <models/autoencoder.h>
#include <models/hierarchical.h>
#include <models/seqvae.h>
#include <models/ssvae.h>
#include <models/vae.h>
#include <models/vi.h>
#include <tools/ssvae_task.h>
#include <tools/vqvae_task.h>
#include <tools/tasks.h>

#include <cstdlib>
#include <string>

#include "alloc_counter.h"
#include "zoo_configs.h"

using namespace elbo;

namespace {

// Google Benchmark's context (the header of every report) names the kernels' instruction set, which
// ELBO_ARCH may force.
const bool kKernelsInContext = [] {
  benchmark::AddCustomContext("elbo_kernels", std::string(kernels::arch_name()));
  return true;
}();

// Times step() (one training step, returning its loss) after three warm-up steps, and counts the heap
// allocations of the timed steps; items are examples (batch per step).
template <class Step> void time_loop(benchmark::State& state, int64_t batch, Step&& step) {
  for (int i = 0; i < 3; ++i) step();  // warm the allocator cache and the thread pool
  const int64_t news0 = testing::heap_allocations.load();
  int64_t steps = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(step());
    ++steps;
  }
  state.counters["allocs_per_step"] = double(testing::heap_allocations.load() - news0) / double(std::max<int64_t>(steps, 1));
  state.SetItemsProcessed(state.iterations() * batch);
}

// The "parameters" counter: the twins report theirs, so a table can show that both sides built one model.
void count_parameters(benchmark::State& state, const std::vector<Tensor>& params) {
  int64_t n = 0;
  for (const Tensor& p : params) n += p.numel();
  state.counters["parameters"] = double(n);
}

// Times training steps (forward, backward, Adam) of model on one batch, and counts their allocations.
template <class M> void time_steps(benchmark::State& state, M& model, Generator& gen) {
  const int64_t batch = state.range(0);
  optim::Adam opt(model.parameters(), {.lr = 1e-3});
  const Tensor x = bernoulli(rand({batch, 784}, gen), gen);
  time_loop(state, batch, [&] {
    opt.zero_grad();
    const Tensor loss = models::loss(model, x, gen, models::Objective{}, 1);
    loss.backward();
    opt.step();
    return loss;
  });
}

void train_step(benchmark::State& state, models::Arch arch) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::VaeOptions o;
  o.arch = arch;
  models::VAE vae(o, gen);
  time_steps(state, vae, gen);
}

// The zoo's MLP encoder and decoder under a learned mixture of K = 10 Gaussians prior: no closed-form KL,
// so the ELBO's KL is the Monte Carlo log q(z) - log p(z) on the step's sample (the path a user's own
// prior or posterior takes).
struct MixturePriorVae : nn::Module, models::AmortizedModel {
  MixturePriorVae(const models::VaeOptions& o, Generator& gen)
      : encoder(register_inline(models::make_encoder(o, gen))),
        decoder(register_inline(models::make_decoder(o, models::make_likelihood(o.likelihood), gen))),
        logits(register_parameter("prior_logits", zeros({10}))),
        loc(register_parameter("prior_loc", randn({10, o.latent}, gen))),
        log_scale(register_parameter("prior_log_scale", zeros({10, o.latent}))) {}
  dist::AnyDistribution prior() const override {
    return dist::MixtureSameFamily(dist::Categorical(logits), dist::Independent(dist::Normal(loc, exp(log_scale)), 1));
  }
  dist::AnyDistribution posterior(const Tensor& x) const override { return encoder.forward(x); }
  dist::AnyDistribution likelihood(const Tensor& z) const override { return decoder.forward(z); }
  models::Encoder& encoder;
  models::Decoder& decoder;
  Tensor logits, loc, log_scale;
};

void BM_VaeMixturePriorTrainStep(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  MixturePriorVae vae(models::VaeOptions{}, gen);
  time_steps(state, vae, gen);
}

void BM_VaeMlpTrainStep(benchmark::State& state) { train_step(state, models::Arch::mlp); }

// The MLP VAE with a flow refining q(z|x): planar:4 and iaf:2 (Monte Carlo KL through the flow's own
// sample); bench/torch_steps.py --model planar | iaf is the same model in PyTorch.
void flow_step(benchmark::State& state, const char* flow) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::VaeOptions o;
  o.flow = models::parse_flow(flow);
  models::VAE vae(o, gen);
  time_steps(state, vae, gen);
}
void BM_VaePlanarTrainStep(benchmark::State& state) { flow_step(state, "planar:4"); }
void BM_VaeIafTrainStep(benchmark::State& state) { flow_step(state, "iaf:2"); }
void BM_ConvVaeTrainStep(benchmark::State& state) { train_step(state, models::Arch::conv); }

// The sequence VAE of elbo-seqvae (defaults: bi-LSTM 128, z 32, LSTM 256, 20 mixtures) on the first
// <batch> sequences of the training split of data/strokes (`elbo-data strokes`; ELBO_STROKES names
// another directory): one step of forward, backward, gradient clipping and Adam, with the KL past its
// warm-up. bench/torch_seqvae.py step times the same step in PyTorch.
void BM_SeqVaeTrainStep(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  const char* dir = std::getenv("ELBO_STROKES");
  models::StrokeSet data;
  try {
    data = models::load_strokes(dir ? dir : "data/strokes", "train");
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  const int64_t batch = state.range(0);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < batch; ++i) ids.push_back(i);
  const Tensor x = models::stroke5_batch(data, ids, 0, batch);
  Generator gen(1);
  models::SeqVae model(models::SeqVaeOptions{}, gen);
  optim::Adam opt(model.parameters(), {.lr = 1e-3});
  const std::vector<Tensor> params = model.parameters();
  const models::Objective obj{.warmup_steps = 1000, .free_bits = 0.2};
  time_loop(state, batch, [&] {
    opt.zero_grad();
    const Tensor loss = models::loss(model, x, gen, obj, 2000);
    loss.backward();
    optim::clip_grad_norm_(params, 1.0);
    opt.step();
    return loss;
  });
}

// Burda et al. 2016's models at their batch of 20 (elbo-vae --arch burda): BM_BurdaTrainStep/<layers>/<k>/
// <iwae>/<threads>, k samples per example under the VAE objective (iwae 0) or the IWAE bound (iwae 1).
// bench/torch_burda.py --time-steps times the same steps in PyTorch, and on the same data: batches of 20
// training digits of data/mnist-full (`elbo-data mnist-full`; ELBO_MNIST_FULL names another directory)
// drawn at random and binarized afresh, the output bias at the training mean's logit. (On random binary
// pixels most importance weights underflow and the IWAE steps' backward multiplies denormals, several
// times slower: not what training on digits pays.)
void BM_BurdaTrainStep(benchmark::State& state) {
  set_num_threads(int(state.range(3)));
  const char* dir = std::getenv("ELBO_MNIST_FULL");
  models::Dataset train;
  try {
    train = models::load_split(dir ? dir : "data/mnist-full", "train");
  } catch (const Error& e) {
    state.SkipWithError(e.what());
    return;
  }
  Generator gen(1);
  auto model = models::make_burda(state.range(0), 784, gen);
  models::init_output_bias(*model, models::mean_image(train));
  const int k = int(state.range(1));
  // every term by Monte Carlo, as elbo-vae --arch burda trains
  const models::Objective obj = state.range(2) ? models::Objective{.iw = k}
                                               : models::Objective{.samples = k, .kl = models::KlEstimate::monte_carlo};
  optim::Adam opt(model->parameters(), {.lr = 1e-3, .betas = {0.99, 0.999}, .eps = 1e-4});
  constexpr int64_t kBatches = 64;  // drawn before timing, taken in turn
  std::vector<Tensor> batches;
  for (int64_t b = 0; b < kBatches; ++b) {
    std::vector<double> rows(20);
    for (double& r : rows) r = double(int64_t(gen.uniform() * double(train.size())) % train.size());
    batches.push_back(bernoulli(index_select(train.images, 0, tensor(rows, {20}, DType::i64)), gen));
  }
  int64_t step = 0;
  time_loop(state, 20, [&] {
    opt.zero_grad();
    const Tensor loss = models::loss(*model, batches[size_t(step++ % kBatches)], gen, obj, 1);
    loss.backward();
    opt.step();
    return loss;
  });
}

// Every VAE configuration of the zoo (tests/zoo_configs.h): BM_ZooStep/<key>/<batch>/<threads>, one
// training step of elbo-vae with that one flag, on the data elbo-vae trains it on. bench/torch_families.py
// and bench/torch_heads.py are the PyTorch twins; bench/compare.py --model zoo runs both sides.
void zoo_step(benchmark::State& state, std::string key) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  const models::VaeOptions o = testing::zoo_options(key);
  models::VAE vae(o, gen);
  const int64_t batch = state.range(0);
  optim::Adam opt(vae.parameters(), {.lr = 1e-3});
  const Tensor x = testing::zoo_input(o, batch, gen);
  count_parameters(state, vae.parameters());
  time_loop(state, batch, [&] {
    opt.zero_grad();
    const Tensor loss = models::loss(vae, x, gen, models::Objective{}, 1);
    loss.backward();
    opt.step();
    return loss;
  });
}

const bool kZooRegistered = [] {
  for (std::string_view key : testing::kZooConfigs)
    benchmark::RegisterBenchmark(("BM_ZooStep/" + std::string(key)).c_str(), zoo_step, std::string(key))
        ->ArgsProduct({{128}, {1, 2}})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  return true;
}();

// elbo-ae's step: the deterministic code z = g(x) and the VAE's decoder, on -log p(x | z).
void BM_AutoencoderStep(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::Autoencoder ae(models::VaeOptions{}, gen);
  const int64_t batch = state.range(0);
  optim::Adam opt(ae.parameters(), {.lr = 1e-3});
  const Tensor x = bernoulli(rand({batch, 784}, gen), gen);
  count_parameters(state, ae.parameters());
  time_loop(state, batch, [&] {
    opt.zero_grad();
    const Tensor loss = -mean(ae.log_likelihood(x));
    loss.backward();
    opt.step();
    return loss;
  });
}

// A task's training step on one batch as training's loop runs it: its loss, backward, Adam, after_step.
void time_task_steps(benchmark::State& state, training::Task& task, optim::Adam& opt, const Tensor& x,
                     const std::vector<int64_t>& ids, Generator& gen) {
  int64_t step = 0;
  time_loop(state, x.size(0), [&] {
    opt.zero_grad();
    const Tensor loss = task.loss(x, ids, gen, ++step);
    loss.backward();
    opt.step();
    task.after_step();
    return loss;
  });
}

// elbo-ssvae's step (zoo::SemiSupervisedTask; M2 784-500-50 given 10 classes, a 500-unit classifier): the
// batch's B unlabelled rows with y summed out (10 B rows through the VAE) and a labelled batch of 100 rows
// drawn from 100 labelled examples (none of them in the batch), binarized as the loop binarizes.
void BM_SsvaeStep(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  const int64_t batch = state.range(0), examples = batch + 100;
  models::Dataset train;
  train.images = rand({examples, 784}, gen), train.height = 28, train.width = 28;
  train.labels = remainder(arange(examples), full({}, 10.0, DType::i64));
  training::ImageData data(train, train, models::Binarize::dynamic, 1);
  models::SsvaeOptions o;
  o.vae.latent = 50, o.vae.hidden = 500;
  models::SemiSupervisedVae m(o, gen);
  std::vector<int64_t> labelled, ids;
  for (int64_t i = 0; i < examples; ++i) (i < batch ? ids : labelled).push_back(i);
  zoo::SemiSupervisedTask task(m, data, labelled, zoo::SsvaeObjective{});
  optim::Adam opt(m.parameters(), {.lr = 1e-3});
  const Tensor x = data.train_batches().batch(ids, 0, batch, gen);
  count_parameters(state, m.parameters());
  time_task_steps(state, task, opt, x, ids, gen);
}

// elbo-vqvae's step (zoo::VqVaeTask, the zoo's defaults: 28x28 to 7x7 codes of 128 x 16, 64 channels, EMA
// codebook, restarts after 20 unused steps): encoder, quantizer, decoder, Bernoulli log-likelihood.
void BM_VqVaeStep(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::VqVaeOptions o;
  o.quantizer.restart_after = 20;
  models::VqVae m(o, gen);
  zoo::VqVaeTask task(m);
  optim::Adam opt(m.parameters(), {.lr = 1e-3});
  const int64_t batch = state.range(0);
  const Tensor x = bernoulli(rand({batch, 784}, gen), gen);
  std::vector<int64_t> ids(static_cast<size_t>(batch));
  count_parameters(state, m.parameters());
  time_task_steps(state, task, opt, x, ids, gen);
}

// elbo-vi's training visit of one batch (zoo::ViTask, --local-steps 5): four updates of the batch's
// per-example posteriors (RowAdam on their rows of the 8,004-row table), then the joint step that also
// moves the decoder, as training's loop runs it.
void BM_ViTrainStep(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::DecoderModel model(models::VaeOptions{}, gen);
  const int64_t batch = state.range(0), examples = 8004;
  zoo::ViTask task(model, examples, zoo::ViOptions{});
  optim::Adam opt(model.parameters(), {.lr = 1e-3});
  const Tensor x = bernoulli(rand({batch, 784}, gen), gen);
  count_parameters(state, model.parameters());  // the decoder's; the tables are per example
  std::vector<int64_t> ids(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) ids[size_t(i)] = (i * 61) % examples;  // scattered rows
  time_task_steps(state, task, opt, x, ids, gen);
}

// Per-example optimization of q with the model fixed, 100 Adam steps per call on a batch: elbo-vi's test-
// time inference (models::optimize_q, the decoder's model, from q = N(0, I), rate 0.1) and the
// amortization-gap search (models::optimize_posterior, a VAE's diagonal family from its encoder's output,
// rate 0.01). Items are examples; allocs_per_step counts per Adam step (the call's setup included). The
// model's own optimizer exists, unused, as in elbo-vi and elbo-vi --gap (Adam refuses gradients on
// parameters no optimizer holds), so the model's gradients are computed as they are there.
constexpr int kSearchSteps = 100;

void BM_ViSearch(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::DecoderModel model(models::VaeOptions{}, gen);
  const int64_t batch = state.range(0);
  const Tensor x = bernoulli(rand({batch, 784}, gen), gen);
  const models::QParams init{zeros({batch, 20}), zeros({batch, 20})};
  const optim::Adam model_opt(model.parameters(), {.lr = 1e-3});
  time_loop(state, batch, [&] { return models::optimize_q(model, x, init, gen, kSearchSteps, 0.1).loc; });
  state.counters["allocs_per_step"] = state.counters["allocs_per_step"] / kSearchSteps;
}

void BM_GapSearch(benchmark::State& state) {
  set_num_threads(int(state.range(1)));
  Generator gen(1);
  models::VAE vae(models::VaeOptions{}, gen);
  const int64_t batch = state.range(0);
  const Tensor x = bernoulli(rand({batch, 784}, gen), gen);
  const models::Encoder::Params init = [&] {
    NoGradGuard ng;
    return vae.encoder().params(x);
  }();
  const optim::Adam model_opt(vae.parameters(), {.lr = 1e-3});
  time_loop(state, batch, [&] { return models::optimize_posterior(vae, x, init, gen, kSearchSteps).loc; });
  state.counters["allocs_per_step"] = state.counters["allocs_per_step"] / kSearchSteps;
}

// --iw K on a batch of test-sized inputs: K samples per example in chunks, no gradient.
void BM_IwaeEval(benchmark::State& state) {
  const int k = int(state.range(0));
  set_num_threads(int(state.range(1)));
  Generator gen(2);
  models::VAE vae(models::VaeOptions{}, gen);
  const Tensor x = bernoulli(rand({100, 784}, gen), gen);
  NoGradGuard guard;
  for (auto _ : state) benchmark::DoNotOptimize(models::iwae(vae, x, gen, k));
  state.SetItemsProcessed(state.iterations() * 100);
}

}  // namespace

BENCHMARK(BM_VaeMlpTrainStep)->ArgsProduct({{32, 128, 512}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VaeMixturePriorTrainStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VaePlanarTrainStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VaeIafTrainStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConvVaeTrainStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SeqVaeTrainStep)->ArgsProduct({{64, 128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BurdaTrainStep)
    ->ArgsProduct({{1, 2}, {1}, {0}, {1, 2}})
    ->ArgsProduct({{1, 2}, {5, 50}, {0, 1}, {1, 2}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AutoencoderStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SsvaeStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_VqVaeStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ViTrainStep)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ViSearch)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GapSearch)->ArgsProduct({{128}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IwaeEval)->ArgsProduct({{5000}, {1, 2}})->UseRealTime()->Unit(benchmark::kMillisecond);
