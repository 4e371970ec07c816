#include <cmath>

#include "models/autoencoder.h"
#include "models/vae.h"
#include "models/vi.h"
#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::all_close;
using elbo::testing::fixture_tensor;
using elbo::testing::uniform;

namespace {


VaeOptions small_mlp(int64_t h = 4, int64_t w = 4, int64_t hidden = 32, int64_t latent = 2) {
  VaeOptions o;
  o.height = h, o.width = w, o.hidden = hidden, o.latent = latent;
  return o;
}

// Binary 4x4 images: one of two stripe patterns, each pixel flipped with probability 0.05.
Tensor stripes(int64_t n, Generator& gen) {
  std::vector<double> v;
  for (int64_t i = 0; i < n; ++i) {
    const bool horizontal = gen.uniform() < 0.5;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) {
        double px = ((horizontal ? r : c) % 2 == 0) ? 1 : 0;
        if (gen.uniform() < 0.05) px = 1 - px;
        v.push_back(px);
      }
  }
  return tensor(v, {n, 16});
}

template <class M, class Loss> std::pair<double, double> train(M& m, Loss loss, Generator& gen, int steps) {
  optim::Adam opt(m.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    const Tensor x = stripes(32, gen);
    opt.zero_grad();
    const Tensor l = loss(x, s);
    l.backward();
    opt.step();
    if (s < 5) first += l.item() / 5;
    if (s >= steps - 20) last += l.item() / 20;
  }
  return {first, last};
}

}  // namespace

TEST_CASE("MLP VAE: examples/vae's names and shapes, and a PyTorch state_dict gives PyTorch's numbers") {
  Generator gen(1);
  VAE vae(VaeOptions{}, gen);
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  for (auto& [n, t] : vae.named_parameters()) names.push_back(n), shapes.push_back(t.shape());
  CHECK(names == std::vector<std::string>{"fc1.weight", "fc1.bias", "fc21.weight", "fc21.bias", "fc22.weight",
                                          "fc22.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"});
  CHECK(shapes == std::vector<Shape>{{400, 784}, {400}, {20, 400}, {20}, {20, 400}, {20}, {400, 20}, {400}, {784, 400},
                                     {784}});
  CHECK(vae.describe() == "mlp VAE 784-400-20, bernoulli likelihood");

  const nn::TensorFile f = nn::load_tensors(std::string(ELBO_MODELS_FIXTURES) + "/vae_mlp.safetensors");
  VAE small(small_mlp(3, 4, 5, 3), gen);
  small.to(DType::f64);
  nn::NamedTensors state;
  for (auto& [n, _] : small.state_dict()) state.emplace_back(n, fixture_tensor(f, n));
  nn::load_state(small, state, "vae_mlp.safetensors");
  const Tensor x = fixture_tensor(f, "x");
  const Posterior q = small.encode(x);
  CHECK(all_close(q.mu, fixture_tensor(f, "mu"), 1e-12, 1e-12));
  CHECK(all_close(q.logvar, fixture_tensor(f, "logvar"), 1e-12, 1e-12));
  const Tensor logits = small.decode(q.mu);
  CHECK(all_close(logits, fixture_tensor(f, "logits"), 1e-12, 1e-12));
  const double loss = -sum(small.options().likelihood.log_prob(logits, x)).item() + sum(kl_standard_normal(q)).item();
  CHECK(loss == doctest::Approx(fixture_tensor(f, "loss").item()).epsilon(1e-12));
}

TEST_CASE("analytic KL to N(0, I): closed form, per-dim split and gradients") {
  Posterior q{tensor({0.5, -1, 0, 2}, {2, 2}, DType::f64), tensor({0, std::log(4.0), -1, 0.5}, {2, 2}, DType::f64)};
  const auto per = kl_standard_normal(q, true).to_vector<double>();
  CHECK(per[0] == doctest::Approx(0.5 * 0.25));
  CHECK(per[1] == doctest::Approx(0.5 * (1 + 4 - 1 - std::log(4.0))));
  CHECK(kl_standard_normal(q).to_vector<double>()[1] == doctest::Approx(per[2] + per[3]));
  Generator gen(2);
  CHECK(gradcheck([](auto& in) { return kl_standard_normal({in[0], in[1]}); },
                  {uniform({3, 2}, gen, -1, 1), uniform({3, 2}, gen, -1, 1)}));
}

TEST_CASE("MLP VAE trains on toy images: the loss falls and the ELBO ordering holds") {
  Generator gen(3);
  VAE vae(small_mlp(), gen);
  const auto [first, last] =
      train(vae, [&](const Tensor& x, int s) { return vae.loss(x, gen, TrainObjective{}, s); }, gen, 400);
  INFO("loss ", first, " -> ", last);
  CHECK(first > 8);  // about 16 log 2 = 11.1 at the start
  CHECK(last < 5);   // the floor is 16 H(0.05) + log 2 = 3.9 nats
  // log p(x) >= IWAE_K >= ELBO in expectation: average over a batch and many draws
  NoGradGuard guard;
  const Tensor x = stripes(200, gen);
  const double elbo = mean(vae.elbo(x, gen, 20).elbo).item();
  const double iw1 = mean(vae.iwae(x, gen, 1)).item(), iw100 = mean(vae.iwae(x, gen, 100, 30)).item();
  INFO("elbo ", elbo, " iwae1 ", iw1, " iwae100 ", iw100);
  CHECK(std::abs(iw1 - elbo) < 0.3);  // same expectation (sampled vs analytic KL)
  CHECK(iw100 > elbo);
  CHECK(vae.sample_images(5, gen).shape() == Shape{5, 16});
  const auto rec = vae.reconstruct(x).to_vector<double>();
  for (double v : rec) CHECK((v >= 0 && v <= 1));
}

TEST_CASE("training objective: KL warm-up, beta and free bits") {
  Generator gen(4), g1(9), g2(9), g3(9);
  VAE vae(small_mlp(), gen);
  const Tensor x = stripes(8, gen);
  TrainObjective warm{.warmup_steps = 100};
  const double at0 = vae.loss(x, g1, warm, 0).item();
  const ElboTerms t = vae.elbo(x, g2, 1);
  CHECK(at0 == doctest::Approx(-mean(t.log_px).item()).epsilon(1e-5));  // no KL at step 0
  const double beta2 = vae.loss(x, g3, TrainObjective{.beta = 2}, 0).item();
  CHECK(beta2 == doctest::Approx(-mean(t.log_px).item() + 2 * mean(t.kl).item()).epsilon(1e-5));
  Generator g4(9);
  const double fb = vae.loss(x, g4, TrainObjective{.free_bits = 10}, 0).item();
  CHECK(fb == doctest::Approx(-mean(t.log_px).item() + 2 * 10).epsilon(1e-5));  // both dims clamped to 10 nats
}

TEST_CASE("IWAE-trained VAE and multi-sample ELBO run and reduce the loss") {
  Generator gen(5);
  VAE vae(small_mlp(), gen);
  const auto [first, last] = train(
      vae, [&](const Tensor& x, int s) { return vae.loss(x, gen, TrainObjective{.iw = 5}, s); }, gen, 200);
  CHECK(last < first - 3);
  CHECK_ERROR_HAS(vae.iwae(stripes(2, gen), gen, 0), "iwae: K must be >= 1, got 0");
  CHECK_ERROR_HAS(vae.encode(ones({2, 15})), "VAE encode: input [2, 15] is not [B, 16]");
}

TEST_CASE("autoencoder trains on the same log-likelihood") {
  Generator gen(6);
  Autoencoder ae(small_mlp(), gen);
  const auto [first, last] =
      train(ae, [&](const Tensor& x, int) { return -mean(ae.log_likelihood(x)); }, gen, 300);
  CHECK(first > 8);
  CHECK(last < 4);  // the floor is 16 H(0.05) = 3.2 nats
}

TEST_CASE("non-amortized VI: per-example optimization raises each ELBO; local posteriors train with a decoder") {
  Generator gen(7);
  VAE vae(small_mlp(), gen);
  train(vae, [&](const Tensor& x, int s) { return vae.loss(x, gen, TrainObjective{}, s); }, gen, 300);
  const Tensor x = stripes(16, gen);
  const Posterior q = vae.encode(x);
  const DecodeFn dec = [&](const Tensor& z) { return vae.decode(z); };
  const auto lik = vae.options().likelihood;
  const QParams start{q.mu.detach(), q.logvar.detach()};
  const QParams opt = optimize_q(dec, lik, x, start, gen, 200);
  NoGradGuard guard;
  const double before = mean(elbo_of(dec, lik, x, start.mu, start.logvar, gen, 200)).item();
  const double after = mean(elbo_of(dec, lik, x, opt.mu, opt.logvar, gen, 200)).item();
  INFO("encoder q ", before, ", optimized q ", after);
  CHECK(after > before);

  // (a) per-example q for 64 training examples, learned jointly with a decoder
  Generator g2(8);
  DecoderModel decoder(small_mlp(), g2);
  LocalPosteriors local(64, 2);
  const Tensor data = stripes(64, g2);
  optim::Adam dopt(decoder.parameters(), {.lr = 1e-2});
  const DecodeFn d2 = [&](const Tensor& z) { return decoder.decode(z); };
  double first = 0, last = 0;
  for (int epoch = 0; epoch < 150; ++epoch) {
    EnableGradGuard on;
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < 64; ++i) ids.push_back(i);
    const QParams rows = local.gather(ids);
    dopt.zero_grad();
    const Tensor l = -mean(elbo_of(d2, lik, data, rows.mu, rows.logvar, g2));
    l.backward();
    dopt.step();
    local.step(ids, rows, 1e-2);
    if (epoch < 10) first += l.item() / 10;
    if (epoch >= 140) last += l.item() / 10;
  }
  INFO("local VI loss ", first, " -> ", last);
  CHECK(last < first - 3);
}

TEST_CASE("LocalPosteriors: state round-trips; a mismatched state is a clear error") {
  Generator gen(9);
  LocalPosteriors a(5, 3);
  const std::vector<int64_t> ids{1, 4};
  for (int k = 0; k < 3; ++k) {
    const QParams rows = a.gather(ids);
    sum(square(rows.mu - 1.0) + square(rows.logvar + 0.5)).backward();
    a.step(ids, rows, 0.1);
  }
  std::map<std::string, Tensor> state;
  for (auto& [name, t] : a.state()) state.emplace(name, t.clone());
  LocalPosteriors b(5, 3);
  b.load_state(state, "ckpt");
  for (const auto& [name, t] : b.state()) CHECK(all_close(t, state.at(name), 0, 0));
  CHECK(state.at("steps").to_vector<int64_t>() == std::vector<int64_t>{0, 3, 0, 0, 3});
  // the next step continues identically (same Adam moments and step counts)
  const QParams ra = a.gather(ids), rb = b.gather(ids);
  sum(square(ra.mu) + ra.logvar).backward();
  sum(square(rb.mu) + rb.logvar).backward();
  a.step(ids, ra, 0.1);
  b.step(ids, rb, 0.1);
  CHECK_FALSE(all_close(a.state()[0].second, state.at("mu"), 0, 0));  // it moved
  for (size_t i = 0; i < 5; ++i) CHECK(all_close(a.state()[i].second, b.state()[i].second, 0, 0));

  LocalPosteriors wrong(6, 3);
  CHECK_THROWS_WITH(wrong.load_state(state, "ckpt"), doctest::Contains("ckpt: per-example posterior 'mu' is f32 [5, 3], this run needs f32 [6, 3]"));
  state.erase("adam_v");
  const auto before = b.state();
  CHECK_THROWS_WITH(b.load_state(state, "ckpt"), doctest::Contains("no per-example posterior tensor 'adam_v'"));
  for (size_t i = 0; i < before.size(); ++i) CHECK(all_close(b.state()[i].second, before[i].second, 0, 0));  // untouched
  state["adam_v"] = zeros({5, 6}, DType::i64);
  CHECK_THROWS_WITH(b.load_state(state, "ckpt"), doctest::Contains("per-example posterior 'adam_v' is i64 [5, 6]"));
}
