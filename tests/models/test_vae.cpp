#include <cmath>

#include "autograd/kernels/kernels.h"
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

template <class M, class Loss> std::pair<double, double> fit(M& m, Loss loss, Generator& gen, int steps) {
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

// 300 Adam steps on the stripes lower the default loss by more than 3 nats, and every parameter whose
// name starts with `prefix` received a gradient (the part under test trains).
void check_trains(VAE& vae, Generator& gen, const std::string& prefix) {
  const auto [first, last] =
      fit(vae, [&](const Tensor& xb, int s) { return loss(vae, xb, gen, Objective{}, s); }, gen, 300);
  INFO("loss ", first, " -> ", last);
  CHECK(last < first - 3);
  for (auto& [n, t] : vae.named_parameters())
    if (n.rfind(prefix, 0) == 0) CHECK_MESSAGE(t.grad().defined(), n);
}

// q(z|x) by name, as the zoo's flags give it: a --posterior family, or a --flow over the diagonal one.
void set_posterior(VaeOptions& o, const std::string& q) {
  if (q.find(':') != std::string::npos && q.rfind("lowrank", 0) != 0) o.flow = parse_flow(q);
  else o.posterior = parse_posterior(q);
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
  const Encoder::Params q = small.encoder().params(x);
  CHECK(all_close(q.loc, fixture_tensor(f, "mu"), 1e-12, 1e-12));
  CHECK(all_close(q.logvar, fixture_tensor(f, "logvar"), 1e-12, 1e-12));
  const Tensor logits = small.decoder().params(q.loc);
  CHECK(all_close(logits, fixture_tensor(f, "logits"), 1e-12, 1e-12));
  // examples/vae's loss at z = mu: BCE summed plus the analytic KL, from the model's three distributions
  const double loss = -sum(small.likelihood(q.loc).log_prob(x)).item() +
                      sum(dist::kl_divergence(small.posterior(x), small.prior())).item();
  CHECK(loss == doctest::Approx(fixture_tensor(f, "loss").item()).epsilon(1e-12));
}

TEST_CASE("q(z|x) is a diagonal Normal: the KL to N(0, I) in closed form, per dim, and its gradients") {
  const Tensor loc = tensor({0.5, -1, 0, 2}, {2, 2}, DType::f64);
  const Tensor logvar = tensor({0, std::log(4.0), -1, 0.5}, {2, 2}, DType::f64);
  const dist::AnyDistribution q = diagonal_normal(loc, logvar), p = standard_normal(2, DType::f64);
  CHECK(q.name() == "Independent<Normal>");
  const auto per = kl_per_dim(q, p).to_vector<double>();
  // KL(N(mu, s^2) || N(0, 1)) = (mu^2 + s^2 - 1 - log s^2) / 2 (Kingma and Welling 2014, app. B)
  CHECK(per[0] == doctest::Approx(0.5 * 0.25));
  CHECK(per[1] == doctest::Approx(0.5 * (1 + 4 - 1 - std::log(4.0))));
  CHECK(dist::kl_divergence(q, p).to_vector<double>()[1] == doctest::Approx(per[2] + per[3]));
  Generator gen(2);
  CHECK(gradcheck([](auto& in) { return dist::kl_divergence(diagonal_normal(in[0], in[1]), standard_normal(2, DType::f64)); },
                  {uniform({3, 2}, gen, -1, 1), uniform({3, 2}, gen, -1, 1)}));
}

TEST_CASE("MLP VAE trains on toy images: the loss falls and the ELBO ordering holds") {
  Generator gen(3);
  VAE vae(small_mlp(), gen);
  const auto [first, last] =
      fit(vae, [&](const Tensor& x, int s) { return loss(vae, x, gen, Objective{}, s); }, gen, 400);
  INFO("loss ", first, " -> ", last);
  CHECK(first > 8);  // about 16 log 2 = 11.1 at the start
  CHECK(last < 5);   // the floor is 16 H(0.05) + log 2 = 3.9 nats
  // log p(x) >= IWAE_K >= ELBO in expectation: average over a batch and many draws
  NoGradGuard guard;
  const Tensor x = stripes(200, gen);
  const double elbo = mean(models::elbo(vae, x, gen, {.samples = 20}).elbo).item();
  const double iw1 = mean(iwae(vae, x, gen, 1)).item(), iw100 = mean(iwae(vae, x, gen, 100, 30)).item();
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
  Objective warm{.warmup_steps = 100};
  const double at0 = loss(vae, x, g1, warm, 0).item();
  const ElboTerms t = models::elbo(vae, x, g2);
  CHECK(at0 == doctest::Approx(-mean(t.log_px).item()).epsilon(1e-5));  // no KL at step 0
  const double beta2 = loss(vae, x, g3, Objective{.beta = 2}, 0).item();
  CHECK(beta2 == doctest::Approx(-mean(t.log_px).item() + 2 * mean(t.kl).item()).epsilon(1e-5));
  Generator g4(9);
  const double fb = loss(vae, x, g4, Objective{.free_bits = 10}, 0).item();
  CHECK(fb == doctest::Approx(-mean(t.log_px).item() + 2 * 10).epsilon(1e-5));  // both dims clamped to 10 nats
}

TEST_CASE("IWAE-trained VAE and multi-sample ELBO run and reduce the loss") {
  Generator gen(5);
  VAE vae(small_mlp(), gen);
  const auto [first, last] = fit(
      vae, [&](const Tensor& x, int s) { return loss(vae, x, gen, Objective{.iw = 5}, s); }, gen, 200);
  CHECK(last < first - 3);
  CHECK_ERROR_HAS(iwae(vae, stripes(2, gen), gen, 0), "iwae: K must be >= 1, got 0");
  CHECK_ERROR_HAS(vae.posterior(ones({2, 15})), "VAE encoder: input [2, 15] is not [B, 16]");
}

TEST_CASE("autoencoder trains on the same log-likelihood") {
  Generator gen(6);
  Autoencoder ae(small_mlp(), gen);
  const auto [first, last] =
      fit(ae, [&](const Tensor& x, int) { return -mean(ae.log_likelihood(x)); }, gen, 300);
  CHECK(first > 8);
  CHECK(last < 4);  // the floor is 16 H(0.05) = 3.2 nats
}

TEST_CASE("non-amortized VI: per-example optimization raises each ELBO; local posteriors train with a decoder") {
  Generator gen(7);
  VAE vae(small_mlp(), gen);
  fit(vae, [&](const Tensor& x, int s) { return loss(vae, x, gen, Objective{}, s); }, gen, 300);
  const Tensor x = stripes(16, gen);
  const Encoder::Params p = vae.encoder().params(x);
  const QParams start{p.loc.detach(), p.logvar.detach()};
  const QParams opt = optimize_q(vae, x, start, gen, 200);
  NoGradGuard guard;
  const double before = mean(models::elbo(vae, start.q(), x, gen, {.samples = 200}).elbo).item();
  const double after = mean(models::elbo(vae, opt.q(), x, gen, {.samples = 200}).elbo).item();
  INFO("encoder q ", before, ", optimized q ", after);
  CHECK(after > before);

  // per-example q for 64 training examples, learned jointly with a decoder
  Generator g2(8);
  DecoderModel decoder(small_mlp(), g2);
  std::vector<std::string> names;
  for (auto& [n, t] : decoder.named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"});
  LocalPosteriors local(64, 2, 1e-2);
  const Tensor data = stripes(64, g2);
  optim::Adam dopt(decoder.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 64; ++i) ids.push_back(i);
  for (int epoch = 0; epoch < 150; ++epoch) {
    EnableGradGuard on;
    dopt.zero_grad();
    const Tensor l = -mean(models::elbo(decoder, local.q(ids), data, g2).elbo);
    l.backward();
    dopt.step();
    local.step(ids);
    if (epoch < 10) first += l.item() / 10;
    if (epoch >= 140) last += l.item() / 10;
  }
  INFO("local VI loss ", first, " -> ", last);
  CHECK(last < first - 3);
}

TEST_CASE("LocalPosteriors: only the batch's rows move, each with its own step count; state round-trips") {
  LocalPosteriors a(5, 3, 0.1);
  const std::vector<int64_t> ids{1, 4};
  auto visit = [&](LocalPosteriors& lp) {
    const dist::AnyDistribution q = lp.q(ids);
    sum(square(q.mean() - 1.0)).backward();
    lp.step(ids);
  };
  for (int k = 0; k < 3; ++k) visit(a);
  std::map<std::string, Tensor> state;
  for (auto& [name, t] : a.state()) state.emplace(name, t.clone());
  const auto loc = state.at("loc").to_vector<double>();
  for (int64_t r : {0, 2, 3})
    for (int64_t j = 0; j < 3; ++j) CHECK(loc[size_t(r * 3 + j)] == 0);  // untouched rows
  CHECK(loc[3] > 0.2);
  CHECK(state.at("optim.row_step").to_vector<int64_t>() == std::vector<int64_t>{0, 3, 0, 0, 3});
  LocalPosteriors b(5, 3, 0.1);
  b.load_state(state, "ckpt");
  for (const auto& [name, t] : b.state()) CHECK(all_close(t, state.at(name), 0, 0));
  // the next step continues identically (same Adam moments and step counts)
  visit(a);
  visit(b);
  CHECK_FALSE(all_close(a.state()[0].second, state.at("loc"), 0, 0));  // it moved
  for (size_t i = 0; i < a.state().size(); ++i) CHECK(all_close(a.state()[i].second, b.state()[i].second, 0, 0));

  LocalPosteriors wrong(6, 3, 0.1);
  CHECK_THROWS_WITH(wrong.load_state(state, "ckpt"), doctest::Contains("ckpt: per-example posterior 'loc' is f32 [5, 3], this run needs f32 [6, 3]"));
  const auto before = b.state();
  state.erase("optim.exp_avg_sq.1");
  state["optim.exp_avg.1"] = zeros({5, 4});
  CHECK_THROWS_WITH(b.load_state(state, "ckpt"), doctest::Contains("ckpt: the per-example posteriors' optimizer state"));
  for (size_t i = 0; i < before.size(); ++i) CHECK(all_close(b.state()[i].second, before[i].second, 0, 0));  // untouched
  state.erase("logvar");
  CHECK_THROWS_WITH(b.load_state(state, "ckpt"), doctest::Contains("no per-example posterior tensor 'logvar'"));
}

TEST_CASE("architecture settings: names parse at the edge; the conv stacks take sides that are multiples of 4") {
  CHECK(parse_arch("conv") == Arch::conv);
  CHECK(arch_name(Arch::mlp) == "mlp");
  CHECK_ERROR_HAS(parse_arch("rnn"), "--arch: 'rnn' is not one of mlp, conv");
  Generator gen(10);
  VaeOptions o = small_mlp();
  o.arch = Arch::conv;
  o.height = 6, o.width = 8;
  CHECK_ERROR_HAS(VAE(o, gen), "conv architecture: its two stride-2 layers need image sides that are multiples of 4, "
                               "got 6x8");
  o.height = 8, o.width = 12;  // the stacks follow the image: 2 x 3 after the encoder's two halvings
  VAE v(o, gen);
  const Tensor x = rand({3, 96}, gen);
  CHECK(models::elbo(v, x, gen).elbo.shape() == Shape{3});
  CHECK(location(v.likelihood(location(v.posterior(x)))).shape() == Shape{3, 96});
}

TEST_CASE("full-covariance and low-rank posteriors: fc23, the distribution built, closed-form KL, training") {
  for (const char* name : {"full", "lowrank:2"}) {
    INFO("posterior ", name);
    Generator gen(21);
    VaeOptions o = small_mlp(4, 4, 32, 3);
    o.posterior = parse_posterior(name);
    VAE vae(o, gen);
    const int64_t extra = o.posterior.extra_features(3);
    CHECK(extra == (std::string(name) == "full" ? 3 : 6));
    std::vector<std::string> names;
    for (auto& [n, t] : vae.named_parameters()) names.push_back(n);
    CHECK(names[6] == "fc23.weight");
    CHECK(vae.named_parameters()[6].second.shape() == Shape{extra, 32});
    CHECK(sum(abs(vae.named_parameters()[6].second)).item() == 0);  // fc23 starts at zero: q starts diagonal
    {  // move fc23 off zero, so the layout checks below see nonzero entries
      NoGradGuard ng;
      for (int i : {6, 7}) vae.named_parameters()[size_t(i)].second.copy_(uniform(vae.named_parameters()[size_t(i)].second.shape(), gen, -1, 1, DType::f32));
    }
    const Tensor x = stripes(16, gen);
    const dist::AnyDistribution q = vae.posterior(x);
    CHECK(q.name() == (std::string(name) == "full" ? "MultivariateNormal" : "LowRankMultivariateNormal"));
    CHECK(q.batch_shape() == Shape{16});
    CHECK(q.event_shape() == Shape{3});
    if (std::string(name) == "full") {  // L = diag(exp(logvar / 2)) + fc23's outputs below the diagonal, row by row
      const Encoder::Params p = vae.encoder().params(x);
      const Tensor l = q.target<dist::MultivariateNormal>()->scale_tril();
      CHECK(all_close(diagonal(l), exp(0.5 * p.logvar), 1e-6, 1e-6));
      CHECK(all_close(select(select(l, 1, 2), 1, 0), 0.01 * select(p.extra, 1, 1), 1e-6, 1e-6));  // L[2][0] = extra 1, scaled
      CHECK(sum(abs(select(select(l, 1, 2), 1, 0))).item() > 0);
      CHECK(all_close(triu(l, 1), zeros({16, 3, 3}), 0, 0));
    }
    // the KL to N(0, I) in closed form (through the dense form for low rank) agrees with Monte Carlo
    const dist::AnyDistribution prior = standard_normal(3, DType::f32);
    CHECK(dist::has_kl(q, prior));
    const Tensor kl = dist::kl_divergence(q, prior);
    const Tensor z = q.sample(gen, {4000});
    const Tensor mc = mean(q.log_prob(z) - prior.log_prob(z), {0});
    CHECK(all_close(kl, mc, 0.1, 0.05));
    check_trains(vae, gen, "fc23.");  // training lowers the loss, fc23 trains
  }
  {  // the conv encoder's head grows by the extra outputs, which start at zero
    Generator gen(22);
    VaeOptions o;
    o.arch = Arch::conv, o.latent = 3, o.posterior = parse_posterior("full");
    VAE conv(o, gen);
    for (auto& [n, t] : conv.named_parameters())
      if (n == "encoder.5.weight" || n == "encoder.5.bias") {
        CHECK(t.size(0) == 2 * 3 + 3);
        CHECK(sum(abs(narrow(t, 0, 6, 3))).item() == 0);
        CHECK(sum(abs(narrow(t, 0, 0, 6))).item() > 0);
      }
    CHECK(conv.posterior(zeros({2, 784})).name() == "MultivariateNormal");
  }
  CHECK_ERROR_HAS(parse_posterior("lowrank:0"), "--posterior: 'lowrank:0' is not one of diagonal, full, lowrank:R");
  CHECK_ERROR_HAS(parse_posterior("dense"), "--posterior: 'dense'");
  CHECK(posterior_name(parse_posterior("lowrank:7")) == "lowrank:7");
}

TEST_CASE("flows refine q(z|x): names flow.<k>, own samples scored, Monte Carlo KL, training lowers the loss") {
  for (const char* name : {"planar:2", "radial:2", "householder:2", "iaf:2", "sylvester:2", "tsylvester:2"}) {
    INFO("flow ", name);
    Generator gen(31);
    VaeOptions o = small_mlp(4, 4, 32, 3);
    o.flow = parse_flow(name);
    VAE vae(o, gen);
    bool named = false;
    for (auto& [n, t] : vae.named_parameters()) named = named || n.rfind("flow.1.", 0) == 0;
    CHECK(named);
    const Tensor x = stripes(16, gen);
    const dist::AnyDistribution q = vae.posterior(x);
    CHECK(q.name() == "TransformedDistribution");
    CHECK(q.batch_shape() == Shape{16});
    CHECK(q.event_shape() == Shape{3});
    CHECK_FALSE(dist::has_kl(q, vae.prior()));  // the ELBO falls back to a Monte Carlo KL
    const Tensor z = q.rsample(gen, {5});
    CHECK(q.log_prob(z).shape() == Shape{5, 16});
    CHECK(vae.reconstruct(x).shape() == Shape{16, 16});
    check_trains(vae, gen, "flow.");  // every flow parameter trains
  }
  CHECK_ERROR_HAS(parse_flow("planar"), "--flow: 'planar' is not one of none, planar:K");
  CHECK_ERROR_HAS(parse_flow("maf:2"), "--flow: 'maf:2'");
  CHECK(flow_name(parse_flow("iaf:4")) == "iaf:4");
}

TEST_CASE("learned priors: a mixture of Gaussians and a masked autoregressive flow, both trained with the VAE") {
  for (const char* name : {"mog:3", "flow:2"}) {
    INFO("prior ", name);
    Generator gen(41);
    VaeOptions o = small_mlp(4, 4, 32, 3);
    o.prior = parse_prior(name);
    VAE vae(o, gen);
    const dist::AnyDistribution p = vae.prior();
    CHECK(p.batch_shape() == Shape{});
    CHECK(p.event_shape() == Shape{3});
    // a normalized density: p's samples score finite, and for the flow log p(z) matches its own draw's
    const Tensor z = p.sample(gen, {200});
    CHECK(z.shape() == Shape{200, 3});
    const Tensor lp = p.log_prob(z);
    CHECK(std::isfinite(sum(lp).item()));
    if (std::string(name).starts_with("flow")) {
      const Tensor fresh = z.detach().clone();  // not the cached draw: scored through the MAF direction
      CHECK(all_close(p.log_prob(fresh), lp, 1e-4, 1e-4));
    }
    CHECK(vae.describe().find(std::string("prior ") + name) != std::string::npos);
    check_trains(vae, gen, "prior.");
  }
  // both integrate to 1: a 2-D latent on a grid over [-10, 10]^2
  for (const char* name : {"mog:3", "flow:3"}) {
    INFO("prior ", name);
    Generator gen(43);
    VaeOptions o = small_mlp(4, 4, 8, 2);
    o.prior = parse_prior(name);
    VAE vae(o, gen);
    vae.to(DType::f64);
    const int64_t n = 500;
    const double h = 20.0 / n;
    const Tensor g = (arange(0, n, 1, DType::f64) + 0.5) * h - 10.0;
    const Tensor grid = stack({reshape(expand(unsqueeze(g, 1), {n, n}), {-1}), reshape(expand(unsqueeze(g, 0), {n, n}), {-1})}, 1);
    NoGradGuard ng;
    CHECK(sum(exp(vae.prior().log_prob(grid))).item() * h * h == doctest::Approx(1.0).epsilon(2e-3));
  }
  CHECK_ERROR_HAS(parse_prior("mog"), "--prior: 'mog' is not one of normal, mog:K, flow:K");
  CHECK(prior_name(parse_prior("flow:3")) == "flow:3");
}

TEST_CASE("each posterior flow's head is as wide as its transform's parameters, and the names round-trip") {
  Generator gen(92);
  const int64_t c = 5, l = 3, steps = 2;
  // per step: a Linear(c, width) head, width from the transform's parameter blocks
  const std::pair<const char*, int64_t> widths[] = {{"planar", 2 * l + 1},         {"radial", l + 2},
                                                    {"householder", l},            {"sylvester", 3 * l * l + 3 * l},
                                                    {"tsylvester", 2 * l * l + 3 * l}};
  for (const auto& [name, width] : widths) {
    INFO("flow: ", name);
    const FlowSpec spec = parse_flow(fmt::format("{}:{}", name, steps));
    CHECK(flow_name(spec) == fmt::format("{}:{}", name, steps));
    PosteriorFlow f(spec, c, l, gen);
    CHECK(f.num_parameters() == steps * (c + 1) * width);
    NoGradGuard ng;
    const Tensor h = randn({4, c}, gen);
    const dist::TransformList t = f.transforms(h);
    CHECK(t.size() == size_t(steps));
    const Tensor z = randn({4, l}, gen);
    CHECK(t[0]->forward(z).shape() == z.shape());
  }
  CHECK_ERROR_HAS(parse_flow("spiral:2"), "--flow: 'spiral:2' is not one of none, planar:K, radial:K, householder:K, "
                                          "iaf:K, sylvester:K, tsylvester:K (K steps in [1, 256])");
}

TEST_CASE("the flow and prior modules refuse settings that name nothing to build") {
  Generator gen(91);
  CHECK_ERROR_HAS(PosteriorFlow(FlowSpec{}, 4, 2, gen), "PosteriorFlow: no flow given (none)");
  CHECK_ERROR_HAS(LearnedPrior(PriorSpec{}, 2, gen), "LearnedPrior: no learned prior given (normal)");
  CHECK_ERROR_HAS(nn::MADE(0, 4, 0, false, gen), "MADE: features 0 and hidden 4 must be >= 1");
  VaeOptions one = small_mlp(1, 1, 4, 2);
  one.likelihood.kind = LikelihoodKind::flow;
  CHECK_ERROR_HAS(VAE(one, gen), "flow likelihood: needs at least 2 pixels, got 1");
  one.likelihood.coupling_steps = 0;
  CHECK_ERROR_HAS(VAE(one, gen), "flow likelihood: coupling steps must be in [1, 64], got 0");
}

TEST_CASE("the VAE loss's gradients are right for every posterior family (gradcheck of all parameters, f64)") {
  for (const char* q : {"diagonal", "full", "lowrank:2", "planar:1", "iaf:1", "sylvester:1"}) {
    INFO("q ", q);
    Generator gen(51);
    VaeOptions o = small_mlp(2, 2, 3, 2);
    set_posterior(o, q);
    VAE vae(o, gen);
    vae.to(DType::f64);
    const Tensor x = tensor({1, 0, 1, 1, 0, 1, 0, 0}, {2, 4}, DType::f64);
    const std::string r = gradcheck_params_report([&] {
      Generator g(7);  // the same eps every call: the loss is a deterministic function of the parameters
      return loss(vae, x, g, Objective{.samples = 2}, 0);
    }, vae.parameters(), {.rtol = 1e-5, .atol = 1e-7, .print = false, .allow_unused = true});
    CHECK_MESSAGE(r.empty(), r);
  }
}

TEST_CASE("optimize_posterior raises each example's ELBO within the VAE's own family (full, flow)") {
  for (const char* q : {"full", "planar:2"}) {
    INFO("q ", q);
    Generator gen(61);
    VaeOptions o = small_mlp(4, 4, 32, 2);
    set_posterior(o, q);
    VAE vae(o, gen);
    fit(vae, [&](const Tensor& xb, int s) { return loss(vae, xb, gen, Objective{}, s); }, gen, 100);
    const Tensor x = stripes(20, gen);
    Encoder::Params init;
    {
      NoGradGuard ng;
      init = vae.encoder().params(x);
    }
    const Encoder::Params best = optimize_posterior(vae, x, init, gen, 200);
    CHECK_FALSE(best.loc.requires_grad());
    NoGradGuard ng;
    const double before = mean(models::elbo(vae, vae.posterior(init), x, gen, {.samples = 200}).elbo).item();
    const double after = mean(models::elbo(vae, vae.posterior(best), x, gen, {.samples = 200}).elbo).item();
    INFO("ELBO ", before, " -> ", after);
    CHECK(after > before + 0.05);
    // the encoder's own outputs were not changed in place
    CHECK(all_close(vae.encoder().params(x).loc, init.loc, 0, 0));
  }
}

TEST_CASE("the VAE trains on every instruction set this CPU has, to the same loss within rounding drift") {
  const std::string before(kernels::arch_name());
  std::vector<std::pair<std::string, double>> finals;
  for (const char* arch : {"sse2", "avx2", "avx512"}) {
    if (!kernels::set_arch(arch)) continue;
    Generator gen(71);
    VAE vae(small_mlp(), gen);
    const auto [first, last] =
        fit(vae, [&](const Tensor& x, int s) { return loss(vae, x, gen, Objective{}, s); }, gen, 200);
    INFO(arch, ": loss ", first, " -> ", last);
    CHECK(last < first - 3);
    finals.emplace_back(arch, last);
  }
  kernels::set_arch(before);
  REQUIRE_FALSE(finals.empty());
  for (const auto& [arch, last] : finals) {
    INFO(arch, " ends at ", last, ", ", finals.front().first, " at ", finals.front().second);
    CHECK(std::abs(last - finals.front().second) < 0.05 * std::abs(finals.front().second));
  }
}

TEST_CASE("the flow likelihood: a normalized density on pixels, exact inverses, training, refusal of conv") {
  {  // two pixels: the density integrates to 1 over the flow's range (-alpha, 1 + alpha) / (1 - 2 alpha)
    Generator gen(81);
    VaeOptions o = small_mlp(1, 2, 8, 2);
    o.likelihood.kind = LikelihoodKind::flow, o.likelihood.coupling_steps = 3;
    VAE vae(o, gen);
    vae.to(DType::f64);
    for (auto& [n, t] : vae.named_parameters())  // move the couplings off the identity start
      if (n.find("coupling") != std::string::npos) {
        NoGradGuard ng;
        t.copy_(uniform(t.shape(), gen, -0.5, 0.5));
      }
    NoGradGuard ng;
    const dist::AnyDistribution p = vae.likelihood(tensor({0.3, -0.7}, {1, 2}, DType::f64));
    const double lo = -0.05 / 0.9, hi = 1 + 0.05 / 0.9;
    const int64_t n = 600;
    const double h = (hi - lo) / n;
    const Tensor g = (arange(0, n, 1, DType::f64) + 0.5) * h + lo;
    const Tensor grid = stack({reshape(expand(unsqueeze(g, 1), {n, n}), {-1}), reshape(expand(unsqueeze(g, 0), {n, n}), {-1})}, 1);
    CHECK(sum(exp(p.log_prob(unsqueeze(grid, 1)))).item() * h * h == doctest::Approx(1.0).epsilon(5e-3));
    // a draw scored through the inverses matches the draw's own forward log-density
    const Tensor x = p.sample(gen, {5});
    CHECK(all_close(p.log_prob(x.clone()), p.log_prob(x), 1e-8, 1e-8));
  }
  Generator gen(82);
  VaeOptions o = small_mlp(4, 4, 32, 2);
  o.likelihood.kind = LikelihoodKind::flow;
  VAE vae(o, gen);
  CHECK(vae.describe() == "mlp VAE 16-32-2, flow-4 likelihood");
  bool named = false;
  for (auto& [n, t] : vae.named_parameters()) named = named || n == "coupling.3.out.weight";
  CHECK(named);
  const auto [first, last] = fit(vae, [&](const Tensor& xb, int s) {
    Generator g(s);
    return loss(vae, binarize(xb * 0.8 + 0.1, Binarize::dequantize, g), gen, Objective{}, s);
  }, gen, 300);
  INFO("loss ", first, " -> ", last);
  CHECK(last < first - 3);
  CHECK(vae.sample_images(3, gen).shape() == Shape{3, 16});
  VaeOptions c = o;
  c.arch = Arch::conv, c.height = 28, c.width = 28;
  CHECK_ERROR_HAS(VAE(c, gen), "flow likelihood: needs --arch mlp");
}
