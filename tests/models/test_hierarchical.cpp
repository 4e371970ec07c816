// Hierarchical VAEs: the Chain distribution, the estimators on a two-layer linear-Gaussian model whose
// log p(x) is known, gradients through both layers, Burda et al.'s networks and the per-layer report.
#include <models/estimators.h>
#include <models/hierarchical.h>

#include <cmath>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::all_close;
using elbo::testing::uniform;

namespace {

// q or p of one layer: Independent(Normal(x W^T + b, scale)), parameters taken as given (shared handles).
class LinearNormal : public Conditional {
 public:
  LinearNormal(Tensor w, Tensor b, Tensor scale)
      : w_(register_parameter("weight", std::move(w))), b_(register_parameter("bias", std::move(b))),
        scale_(register_parameter("scale", std::move(scale))) {}
  dist::AnyDistribution forward(const Tensor& x) const override {
    const Tensor loc = matmul(x, transpose(w_, 0, 1)) + b_;
    return dist::Independent(dist::Normal(loc, expand(scale_, loc.shape())), 1);
  }

 private:
  Tensor w_, b_, scale_;
};

Tensor f64(std::vector<double> v, Shape s) { return tensor(std::move(v), std::move(s), DType::f64); }

// p(z2) = N(0, 1), p(z1 | z2) = N(a z2, s1^2), p(x | z1) = N(w z1 + b, s0^2 I_2): x ~ N(b, v1 w w^T + s0^2 I)
// with v1 = a^2 + s1^2. The exact posterior is a chain: q(z1 | x) = N(w^T (x - b) / (s0^2 P1), 1 / P1) with
// P1 = 1 / v1 + |w|^2 / s0^2, and q(z2 | z1) = p(z2 | z1) = N(a z1 / (s1^2 P2), 1 / P2), P2 = 1 + a^2 / s1^2.
struct LinearChain {
  double a = 0.8, s1 = 0.6, s0 = 0.5, w0 = 1.2, w1 = -0.7, b0 = 0.3, b1 = -0.1;
  double shrink = 1.0;  // < 1: a q that is not the exact posterior (its scales shrunk)
  HierarchicalVae build() const {
    const double v1 = a * a + s1 * s1, p1 = 1 / v1 + (w0 * w0 + w1 * w1) / (s0 * s0), p2 = 1 + a * a / (s1 * s1);
    HierarchicalVae m;
    // q(z1 | x): loc = (w0 (x0 - b0) + w1 (x1 - b1)) / (s0^2 P1)
    const double c = 1 / (s0 * s0 * p1);
    m.add_layer(1, std::make_unique<LinearNormal>(f64({c * w0, c * w1}, {1, 2}), f64({-c * (w0 * b0 + w1 * b1)}, {1}),
                                                  f64({shrink / std::sqrt(p1)}, {1})),
                std::make_unique<LinearNormal>(f64({w0, w1}, {2, 1}), f64({b0, b1}, {2}), f64({s0, s0}, {2})));
    m.add_layer(1, std::make_unique<LinearNormal>(f64({a / (s1 * s1 * p2)}, {1, 1}), f64({0}, {1}),
                                                  f64({shrink / std::sqrt(p2)}, {1})),
                std::make_unique<LinearNormal>(f64({a}, {1, 1}), f64({0}, {1}), f64({s1}, {1})));
    return m;
  }
  // log N(x; b, v1 w w^T + s0^2 I) per row of x [N, 2]
  std::vector<double> log_px(const Tensor& x) const {
    const double v1 = a * a + s1 * s1;
    const double c00 = v1 * w0 * w0 + s0 * s0, c01 = v1 * w0 * w1, c11 = v1 * w1 * w1 + s0 * s0;
    const double det = c00 * c11 - c01 * c01;
    std::vector<double> out;
    const auto v = x.to_vector<double>();
    for (size_t i = 0; i + 1 < v.size(); i += 2) {
      const double d0 = v[i] - b0, d1 = v[i + 1] - b1;
      const double q = (c11 * d0 * d0 - 2 * c01 * d0 * d1 + c00 * d1 * d1) / det;
      out.push_back(-0.5 * q - 0.5 * std::log(det) - std::log(2 * M_PI));
    }
    return out;
  }
};

}  // namespace

TEST_CASE("Chain: sampling order, layout, log_prob by layer and shape errors") {
  Generator gen(1);
  const LinearChain lc;
  const HierarchicalVae m = lc.build();
  const Tensor x = uniform({4, 2}, gen, -1, 1);
  const dist::AnyDistribution q = m.posterior(x), p = m.prior();
  const auto* qc = q.target<dist::Chain>();
  REQUIRE(qc != nullptr);
  CHECK(q.batch_shape() == Shape{4});
  CHECK(q.event_shape() == Shape{2});
  CHECK(p.event_shape() == Shape{2});
  CHECK(q.has_rsample());
  CHECK_FALSE(q.has_moments());
  CHECK(qc->sizes() == std::vector<int64_t>{1, 1});
  const Tensor z = q.rsample(gen, {3});
  CHECK(z.shape() == Shape{3, 4, 2});
  const std::vector<Tensor> layers = qc->log_prob_layers(z);
  REQUIRE(layers.size() == 2);
  CHECK(all_close(layers[0] + layers[1], q.log_prob(z), 1e-12, 1e-12));
  // the prior samples z2 first and puts it last: z1 | z2 has mean a z2
  const Tensor zp = p.sample(gen, {20000});
  CHECK(zp.shape() == Shape{20000, 2});
  NoGradGuard ng;
  const Tensor z1 = select(zp, 1, 0), z2 = select(zp, 1, 1);
  CHECK(mean(z1 * z2).item() == doctest::Approx(lc.a).epsilon(0.05));  // Cov(z1, z2) = a
  CHECK(mean(z2 * z2).item() == doctest::Approx(1.0).epsilon(0.05));
  CHECK(mean(z1 * z1).item() == doctest::Approx(lc.a * lc.a + lc.s1 * lc.s1).epsilon(0.05));
  CHECK_ERROR_HAS(q.log_prob(zeros({4, 3}, DType::f64)), "its last dim must be the 2 dims of the layers [1, 1]");
  CHECK_ERROR_HAS(m.likelihood(zeros({4, 3}, DType::f64)), "expects z [N, 2] (the layers 1 + 1 side by side)");
  CHECK_ERROR_HAS(dist::Chain(dist::Normal(zeros({3}), ones({3})), {}), "the root's event_shape must be [d], got []");
  CHECK_ERROR_HAS(dist::Chain(standard_normal(2), {{0, [](const Tensor& t) { return standard_normal(t.size(1)); }}}),
                  "link 1 emits 0 dims");
  // a link that does not return one distribution per row
  const dist::Chain bad(standard_normal(2), {{2, [](const Tensor&) { return standard_normal(2); }}});
  CHECK_ERROR_HAS(bad.sample(gen, {5}), "link 1 must give batch_shape [5] and event_shape [2]");
  // one distribution per row, but of 3 dims where the layer has 2
  const dist::Chain wide(standard_normal(2), {{2, [](const Tensor& t) {
                           return dist::AnyDistribution(
                               dist::Independent(dist::Normal(zeros({t.size(0), 3}), ones({t.size(0), 3})), 1));
                         }}});
  CHECK_ERROR_HAS(wide.sample(gen, {5}), "must give batch_shape [5] and event_shape [2] for its input [5, 2], got batch "
                                         "[5] event [3]");
}

TEST_CASE("hierarchical estimators: the exact posterior gives log p(x) exactly; a worse q bounds it in order") {
  Generator gen(2);
  LinearChain lc;
  const Tensor x = uniform({6, 2}, gen, -2, 2);
  const std::vector<double> exact = lc.log_px(x);
  {
    const HierarchicalVae m = lc.build();
    NoGradGuard ng;
    // log p(x, z) - log q(z | x) = log p(x) for every z when q is the posterior: every estimator is exact
    CHECK(all_close(models::elbo(m, x, gen, {.samples = 3}).elbo.to_vector<double>(), exact, 1e-10, 1e-10));
    CHECK(all_close(iwae(m, x, gen, 7, 3).to_vector<double>(), exact, 1e-10, 1e-10));
  }
  lc.shrink = 0.6;
  const HierarchicalVae m = lc.build();
  NoGradGuard ng;
  const Tensor xs = uniform({50, 2}, gen, -2, 2);
  double truth = 0;
  for (double v : lc.log_px(xs)) truth += v / 50;
  const double e = mean(models::elbo(m, xs, gen, {.samples = 2000}).elbo).item();
  const double i10 = mean(iwae(m, xs, gen, 10)).item(), i1000 = mean(iwae(m, xs, gen, 1000)).item();
  INFO("ELBO ", e, ", IWAE-10 ", i10, ", IWAE-1000 ", i1000, ", log p(x) ", truth);
  CHECK(e < i10 - 0.01);
  CHECK(i10 < i1000);
  CHECK(i1000 < truth + 1e-3);
  CHECK(truth - i1000 < 0.01);
  // per layer: the KL terms add up to the total KL, and the units' counts follow the threshold
  Generator g1(3), g2(3);
  const LayerReport r = layer_report(m, xs, g1, 0.0, 16);
  CHECK(r.sizes == std::vector<int64_t>{1, 1});
  CHECK(r.active_units == std::vector<int64_t>{1, 1});
  CHECK(layer_report(m, xs, g2, 1e9).active_units == std::vector<int64_t>{0, 0});
  REQUIRE(r.kl.size() == 2);
  const double kl_total = r.kl[0] + r.kl[1];
  Generator g3(4);
  const double kl_mc = mean(models::elbo(m, xs, g3, {.samples = 4000}).kl).item();
  CHECK(kl_total == doctest::Approx(kl_mc).epsilon(0.1));
}

TEST_CASE("hierarchical gradients: gradcheck of the ELBO and the IWAE bound through both stochastic layers") {
  Generator gen(5);
  const Tensor x = uniform({3, 2}, gen, -1, 1);
  for (int k : {1, 3}) {
    auto f = [&](std::vector<Tensor>& in) {
      HierarchicalVae m;
      m.add_layer(2, std::make_unique<LinearNormal>(in[0], in[1], in[2]),
                  std::make_unique<LinearNormal>(in[3], f64({0.1, -0.2}, {2}), f64({0.5, 0.7}, {2})));
      m.add_layer(1, std::make_unique<LinearNormal>(in[4], f64({0.0}, {1}), f64({0.8}, {1})),
                  std::make_unique<LinearNormal>(in[5], f64({0.2, 0.0}, {2}), in[6]));
      Generator g(6);  // the same draws for every evaluation
      return k == 1 ? models::elbo(m, x, g, {.samples = 2}).elbo : iwae(m, x, g, k);
    };
    CHECK(gradcheck(f, {uniform({2, 2}, gen, -1, 1), uniform({2}, gen, -0.5, 0.5), uniform({2}, gen, 0.5, 1),
                        uniform({2, 2}, gen, -1, 1), uniform({1, 2}, gen, -1, 1), uniform({2, 1}, gen, -1, 1),
                        uniform({2}, gen, 0.5, 1)}));
  }
}

TEST_CASE("Burda et al.'s networks: sizes, names, initialization, the data-mean bias, and a loss that falls") {
  Generator gen(7);
  auto one = make_burda(1, 784, gen);
  CHECK(one->sizes() == Sizes{50});
  CHECK(one->num_parameters() == (784 * 200 + 200) + (200 * 200 + 200) + (200 * 100 + 100) + (50 * 200 + 200) +
                                     (200 * 200 + 200) + (200 * 784 + 784));
  auto two = make_burda(2, 784, gen);
  CHECK(two->sizes() == Sizes{100, 50});
  std::vector<std::string> names;
  for (const auto& [n, t] : two->named_parameters()) names.push_back(n);
  CHECK(names == std::vector<std::string>{"q1.net.0.weight", "q1.net.0.bias", "q1.net.2.weight", "q1.net.2.bias",
                                          "q1.head.weight", "q1.head.bias", "p0.net.0.weight", "p0.net.0.bias",
                                          "p0.net.2.weight", "p0.net.2.bias", "p0.head.weight", "p0.head.bias",
                                          "q2.net.0.weight", "q2.net.0.bias", "q2.net.2.weight", "q2.net.2.bias",
                                          "q2.head.weight", "q2.head.bias", "p1.net.0.weight", "p1.net.0.bias",
                                          "p1.net.2.weight", "p1.net.2.bias", "p1.head.weight", "p1.head.bias"});
  for (const auto& [n, t] : two->named_parameters()) {
    const auto v = t.to_vector<double>();
    double mx = 0;
    for (double e : v) mx = std::max(mx, std::abs(e));
    if (n.ends_with("bias")) {
      CHECK_MESSAGE(mx == 0, n);  // zero biases
    } else {  // Glorot: U(-b, b), b = sqrt(6 / (fan_in + fan_out)), fan_out the layer's units (d for a head)
      const int64_t fan_in = t.size(1), out = t.size(0);
      const int64_t units = n == "q1.head.weight" ? 100 : n == "q2.head.weight" ? 50 : n == "p1.head.weight" ? 100 : out;
      const double b = std::sqrt(6.0 / double(fan_in + units));
      CHECK_MESSAGE(mx <= b, n);
      CHECK_MESSAGE(mx > 0.95 * b, n);
    }
  }
  CHECK_ERROR_HAS(make_burda(3, 784, gen), "Burda et al.'s architecture has 1 or 2 stochastic layers, got 3");
  // the output bias at the logit of the clipped pixel means
  const Tensor pix = tensor(std::vector<double>{0.0, 0.5, 0.9, 1.0}, {4});
  auto small = std::make_unique<HierarchicalVae>();
  small->add_layer(2, std::make_unique<MlpConditional>(4, Sizes{3}, 2, gaussian_head(), gen),
                   std::make_unique<MlpConditional>(2, Sizes{3}, 4, make_likelihood(), gen));
  init_output_bias(*small, pix);
  const auto bias = small->named_parameters().back().second.to_vector<double>();
  CHECK(bias[0] == doctest::Approx(std::log(0.001 / 0.999)));
  CHECK(bias[1] == doctest::Approx(0.0));
  CHECK(bias[2] == doctest::Approx(std::log(9.0)).epsilon(1e-5));
  CHECK(bias[3] == doctest::Approx(std::log(0.999 / 0.001)));
  CHECK_ERROR_HAS(init_output_bias(*small, zeros({5})), "5 pixel means for an output bias of 4");
  // a few Adam steps of the two-layer model on fixed binary data lower its loss
  const Tensor data = bernoulli(rand({64, 784}, gen) * 0.3, gen);
  optim::Adam opt(two->parameters(), {.lr = 1e-3});
  double first = 0, last = 0;
  for (int s = 0; s < 30; ++s) {
    opt.zero_grad();
    const Tensor l = models::loss(*two, data, gen, {}, s);
    if (s == 0) first = l.item();
    last = l.item();
    l.backward();
    opt.step();
  }
  CHECK(last < first - 20);
  for (const auto& [n, p] : two->named_parameters()) CHECK_MESSAGE(p.grad().defined(), n);
}

TEST_CASE("the README's three-layer hierarchical VAE trains on the shared estimators and reports per layer") {
  Generator data_gen(9);
  const Tensor x = bernoulli(rand({40, 784}, data_gen) * 0.4, data_gen);
  // --- from README.md ---
  Generator gen(1);
  HierarchicalVae vae;  // p(z3) p(z2|z3) p(z1|z2) p(x|z1); q(z1|x) q(z2|z1) q(z3|z2)
  auto gaussian = [&](int64_t in, int64_t out) {  // a tanh MLP to a diagonal Gaussian, scale = exp(head)
    return std::make_unique<MlpConditional>(in, Sizes{100, 100}, out, gaussian_head(), gen);
  };
  vae.add_layer(100, std::make_unique<MlpConditional>(784, Sizes{200, 200}, 100, gaussian_head(), gen),
                std::make_unique<MlpConditional>(100, Sizes{200, 200}, 784, make_likelihood(), gen));
  vae.add_layer(50, gaussian(100, 50), gaussian(50, 100));
  vae.add_layer(20, gaussian(50, 20), gaussian(20, 50));
  optim::Adam opt(vae.parameters(), {.lr = 1e-3, .betas = {0.99, 0.999}, .eps = 1e-4});
  for (int64_t step = 1; step <= 40; ++step) {
    opt.zero_grad();
    models::loss(vae, x, gen, {.iw = 5}, step).backward();  // the 5-sample IWAE bound
    opt.step();
  }
  NoGradGuard no_grad;
  const double loglik = mean(iwae(vae, x, gen, 500)).item();  // log p(x) >= this, per example
  const LayerReport report = layer_report(vae, x, gen);       // KL and active units per layer
  // --- end ---
  CHECK(vae.sizes() == Sizes{100, 50, 20});
  CHECK(std::isfinite(loglik));
  CHECK(loglik > mean(models::elbo(vae, x, gen, {.samples = 100}).elbo).item());
  CHECK(report.sizes == std::vector<int64_t>{100, 50, 20});
  CHECK(report.kl.size() == 3);
  CHECK(vae.named_parameters().front().first == "q1.net.0.weight");
  CHECK(vae.named_parameters().back().first == "p2.head.bias");
}

TEST_CASE("gaussian_head: the scale is exp or softplus of the head's second half") {
  const Tensor raw = f64({0.5, -1.0, -2.0, 0.3}, {1, 4});  // loc (0.5, -1), raw (-2, 0.3)
  Generator gen(12);
  const Tensor z = f64({0.1, 0.2}, {1, 2});
  for (const ScaleLink link : {ScaleLink::exp, ScaleLink::softplus}) {
    const auto scale = [&](double r) { return link == ScaleLink::exp ? std::exp(r) : std::log1p(std::exp(r)); };
    double want = 0;
    const double loc[2] = {0.5, -1.0}, r[2] = {-2.0, 0.3}, x[2] = {0.1, 0.2};
    for (int i = 0; i < 2; ++i) {
      const double s = scale(r[i]), u = (x[i] - loc[i]) / s;
      want += -0.5 * u * u - std::log(s) - 0.5 * std::log(2 * M_PI);
    }
    CHECK(gaussian_head(link)->distribution(raw).log_prob(z).item() == doctest::Approx(want).epsilon(1e-12));
  }
  CHECK(gaussian_head(ScaleLink::softplus)->name() == "gaussian (softplus scale)");
  CHECK(parse_scale_link("exp") == ScaleLink::exp);
  CHECK(parse_scale_link("softplus") == ScaleLink::softplus);
  CHECK_ERROR_HAS(parse_scale_link("relu"), "scale link: expected exp or softplus, got 'relu'");
  CHECK(make_burda(2, 784, gen, ScaleLink::softplus)->describe().find("softplus scale") != std::string::npos);
}

TEST_CASE("hierarchical models: an empty or malformed hierarchy is an Error naming what is missing") {
  Generator gen(11);
  HierarchicalVae empty;
  CHECK_ERROR_HAS(empty.prior(), "HierarchicalVae: no stochastic layer (add_layer)");
  CHECK_ERROR_HAS(empty.posterior(zeros({2, 4})), "no stochastic layer");
  CHECK_ERROR_HAS(empty.add_layer(0, nullptr, nullptr), "layer 1 has 0 dims; it needs at least 1");
  CHECK_ERROR_HAS(empty.add_layer(2, nullptr, nullptr), "layer 1 needs both q and p networks");
  CHECK_ERROR_HAS(MlpConditional(4, Sizes{0}, 2, gaussian_head(), gen), "hidden sizes must be >= 1, got 0");
  MlpConditional q(4, Sizes{3}, 2, gaussian_head(), gen);
  CHECK_ERROR_HAS(q.forward(zeros({2, 5})), "MlpConditional: expects input [N, 4], got [2, 5]");
  CHECK_ERROR_HAS(dist::Chain(standard_normal(2), {{1, nullptr}}), "link 1 has no function");
  CHECK_ERROR_HAS(dist::Chain::sharing(standard_normal(2), nullptr), "Chain: the links are null");
  HierarchicalVae m = LinearChain{}.build();
  CHECK_ERROR_HAS(layer_report(m, zeros({3, 2}, DType::f64), gen, 0.01, 0), "layer_report: batch must be >= 1, got 0");
  CHECK_ERROR_HAS(init_output_bias(m, zeros({2})), "the model has no p0.head.bias");
}
