// Labels as latent variables: a conditional VAE at fixed labels through the ordinary estimators, and the
// ELBO with the label summed out exactly, against the brute-force sum over classes, against a Monte
// Carlo estimate that samples the label, and under gradcheck.
#include <models/conditional.h>
#include <models/ssvae.h>
#include <models/vae.h>

#include <cmath>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::all_close;

namespace {

VaeOptions tiny(int64_t classes) {
  VaeOptions o;
  o.height = 2, o.width = 2, o.hidden = 6, o.latent = 2, o.condition = classes;
  return o;
}

// Kingma et al.'s M2 in miniature: a conditional VAE and a linear classifier q(y | x); p(y) not uniform,
// so the test sees log p(y) enter.
class TinyM2 : public nn::Module, public LabelModel {
 public:
  TinyM2(int64_t classes, Generator& gen)
      : vae_(register_module("vae", std::make_unique<VAE>(tiny(classes), gen))),
        cls_(register_module("cls", nn::Linear(4, classes, gen))),
        prior_logits_(register_buffer("prior_logits", arange(0.0, double(classes), 1.0, DType::f32) * 0.3)) {}
  int64_t classes() const override { return vae_.classes(); }
  dist::AnyDistribution prior(const Tensor& y) const override { return vae_.prior(y); }
  dist::AnyDistribution likelihood(const Tensor& z, const Tensor& y) const override { return vae_.likelihood(z, y); }
  dist::AnyDistribution posterior(const Tensor& x, const Tensor& y) const override { return vae_.posterior(x, y); }
  dist::Categorical label_prior() const override { return dist::Categorical(prior_logits_); }
  dist::Categorical classifier(const Tensor& x) const override { return dist::Categorical(cls_.forward(x)); }

 private:
  VAE& vae_;
  nn::Linear& cls_;
  Tensor prior_logits_;
};

Tensor images(int64_t n, Generator& gen, DType dtype = DType::f32) { return bernoulli(rand({n, 4}, gen, dtype), gen); }

}  // namespace

TEST_CASE("conditional VAE at fixed labels: the estimators score it unchanged, with labels tiled over samples") {
  Generator gen(1);
  VAE vae(tiny(3), gen);
  const Tensor x = images(5, gen);
  const Tensor y = tensor(std::vector<int64_t>{0, 2, 1, 1, 0}, {5}, DType::i64);
  // one sample: given's ELBO is the hand-written one
  Generator g1(2), g2(2);
  const ElboTerms t = models::elbo(given(vae, y), x, g1);
  const dist::AnyDistribution q = vae.posterior(x, y);
  const Tensor z = q.rsample(g2);
  const Tensor by_hand = vae.likelihood(z, y).log_prob(x) - dist::kl_divergence(q, vae.prior());
  CHECK(all_close(t.elbo, by_hand, 1e-6, 1e-6));
  // k samples stacked as [k B, L]: copy j of example i reads label y[i]
  Generator g3(3), g4(3);
  const Tensor iw = iwae(given(vae, y), x, g3, 4);
  const Tensor zs = vae.posterior(x, y).rsample(g4, {4});  // [4, 5, 2]
  std::vector<Tensor> logw;
  for (int64_t j = 0; j < 4; ++j) {
    const Tensor zj = select(zs, 0, j);
    logw.push_back(vae.likelihood(zj, y).log_prob(x) + vae.prior().log_prob(zj) - vae.posterior(x, y).log_prob(zj));
  }
  CHECK(all_close(iw, logsumexp(stack(logw, 0), 0) - std::log(4.0), 1e-5, 1e-5));
  // the label changes what the model says
  const Tensor other = tensor(std::vector<int64_t>{1, 0, 2, 0, 2}, {5}, DType::i64);
  Generator g5(2);
  CHECK_FALSE(all_close(models::elbo(given(vae, other), x, g5).elbo, t.elbo, 1e-3, 1e-3));
  CHECK(vae.sample_images(y, gen).shape() == Shape{5, 4});
  CHECK(vae.reconstruct(x, y).shape() == Shape{5, 4});
  CHECK(vae.describe().find("given 3 classes") != std::string::npos);
}

TEST_CASE("conditional VAE: the errors name the call and the labels") {
  Generator gen(4);
  VAE vae(tiny(3), gen);
  VAE plain(tiny(0), gen);
  const Tensor x = images(2, gen);
  CHECK_ERROR_HAS(vae.posterior(x), "this VAE is conditioned on 3 classes; use posterior(x, y)");
  CHECK_ERROR_HAS(vae.sample_images(2, gen), "use sample_images(y)");
  CHECK_ERROR_HAS(given(plain, tensor(std::vector<int64_t>{0, 1}, {2}, DType::i64)),
                  "given: the model is not conditioned on labels");
  CHECK_ERROR_HAS(plain.posterior(x, tensor(std::vector<int64_t>{0, 1}, {2}, DType::i64)),
                  "VAE::posterior(x, y): this VAE is not conditioned on labels");
  CHECK_ERROR_HAS(given(vae, tensor(std::vector<int64_t>{0, 3}, {2}, DType::i64)),
                  "given: label 3 at position 1 is not a class in [0, 3)");
  CHECK_ERROR_HAS(given(vae, tensor({0.0, 1.0}, {2})), "given: labels must be [B] i64, got [2] f32");
  const Tensor three = tensor(std::vector<int64_t>{0, 1, 2}, {3}, DType::i64);
  CHECK_ERROR_HAS(given(vae, three).posterior(x), "given: input [2, 4] does not have one row per label (3 labels)");
  CHECK_ERROR_HAS(vae.posterior(x, three), "VAE::posterior: labels must be [2] i64, got [3] i64");
  CHECK_ERROR_HAS(vae.posterior(Tensor(), three), "VAE::posterior(x, y): input [] is not [N, features]");
  CHECK_ERROR_HAS(vae.likelihood(Tensor(), three), "VAE::likelihood(z, y): input [] is not [N, features]");
}

TEST_CASE("enumerated ELBO: the exact sum over classes, as one batch, equals the class-by-class sum") {
  Generator gen(5);
  TinyM2 m(3, gen);
  m.to(DType::f64);
  const Tensor x = images(4, gen, DType::f64);
  // The batched pass draws z for rows [class 0's examples, class 1's, ...] in one call; class by class,
  // the same generator hands out the same numbers in the same order.
  Generator a(6), b(6);
  const Tensor one = randn({6, 2}, a, DType::f64);
  const Tensor three = cat({randn({2, 2}, b, DType::f64), randn({2, 2}, b, DType::f64), randn({2, 2}, b, DType::f64)}, 0);
  REQUIRE(all_close(one, three, 0, 0));

  {  // (with S > 1 samples the batched draw is [S, C B, L], sample-major: the Monte Carlo test covers it)
    Generator g1(7), g2(7);
    const LabelTerms t = enumerated_elbo(m, x, g1);
    // brute force: sum_c q(c|x) (ELBO(x, c) + log p(c) - log q(c|x))
    const dist::Categorical qy = m.classifier(x);
    const Tensor probs = qy.probs();
    Tensor expect = zeros({4}, DType::f64), expect_px = zeros({4}, DType::f64);
    for (int64_t c = 0; c < 3; ++c) {
      const Tensor y = full({4}, double(c), DType::i64);
      const LabelTerms lc = labelled_elbo(m, x, y, g2);
      const Tensor w = select(probs, 1, c);
      expect = expect + w * (lc.elbo - qy.log_prob(y));
      expect_px = expect_px + w * lc.log_px;
      CHECK(all_close(select(t.per_class, 1, c), lc.elbo, 1e-10, 1e-10));
    }
    CHECK(all_close(t.elbo, expect, 1e-10, 1e-10));
    CHECK(all_close(t.log_px, expect_px, 1e-10, 1e-10));
    CHECK(all_close(t.kl, t.log_px - t.elbo, 1e-12, 1e-12));
  }
  // the enumerated bound is below the best class's labelled bound plus nothing: ELBO <= logsumexp_c
  // (ELBO(x, c) + log p(c)), the bound with the optimal q(y|x)
  Generator g3(8);
  const LabelTerms t = enumerated_elbo(m, x, g3);
  CHECK(min(logsumexp(t.per_class, 1) - t.elbo, 0).item() >= -1e-12);
}

TEST_CASE("enumerated ELBO: a Monte Carlo estimate that samples the label agrees") {
  Generator gen(9);
  TinyM2 m(4, gen);
  m.to(DType::f64);
  const Tensor x = images(3, gen, DType::f64);
  NoGradGuard ng;
  // exact over y, 400 samples of z per (x, y): the z noise averages out
  Generator g1(10);
  const Tensor exact = enumerated_elbo(m, x, g1, {.samples = 400}).elbo;
  // y ~ q(y|x), 20000 per example, one z each: ELBO(x, y) + log p(y) - log q(y|x)
  const int64_t n = 20000;
  Generator g2(11);
  const dist::Categorical qy = m.classifier(x);
  const Tensor y = qy.sample(g2, {n});  // [n, 3]
  const Tensor xs = flatten(expand(unsqueeze(x, 0), {n, 3, 4}), 0, 1);
  const Tensor ys = flatten(y, 0, 1);
  const Tensor est = reshape(labelled_elbo(m, xs, ys, g2).elbo, {n, 3}) - qy.log_prob(y);
  const Tensor mc = mean(est, {0});
  const Tensor se = sqrt(mean(square(est - unsqueeze(mc, 0)), {0}) / double(n));
  const auto e = exact.to_vector<double>(), v = mc.to_vector<double>(), s = se.to_vector<double>();
  for (size_t i = 0; i < e.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(e[i] - v[i]) < 4 * s[i] + 0.01);
    CHECK(s[i] < 0.1);  // the check has teeth: the tolerance is a small fraction of a nat
  }
}

TEST_CASE("enumerated and labelled ELBO: gradcheck through the classifier, the encoder and the decoder") {
  Generator gen(12);
  TinyM2 m(3, gen);
  m.to(DType::f64);
  const Tensor x = images(2, gen, DType::f64);
  const Tensor y = tensor(std::vector<int64_t>{2, 0}, {2}, DType::i64);
  CHECK(gradcheck_params([&] {
    Generator g(13);  // the same draws for every evaluation
    return enumerated_elbo(m, x, g, {.samples = 2}).elbo;
  }, m.parameters()));
  // labelled: the classifier and p(y) do not enter, every other parameter does
  std::vector<Tensor> vae_params;
  for (const auto& [name, p] : m.named_parameters())
    if (name.starts_with("vae.")) vae_params.push_back(p);
  CHECK(gradcheck_params([&] {
    Generator g(14);
    return labelled_elbo(m, x, y, g).elbo;
  }, vae_params));
  CHECK_ERROR_HAS(labelled_elbo(m, x, tensor(std::vector<int64_t>{0}, {1}, DType::i64), gen),
                  "labelled_elbo: labels must be [2] i64, got [1] i64");
  CHECK_ERROR_HAS(enumerated_elbo(m, Tensor(), gen), "enumerated_elbo: input [] is not [B, ...]");
  CHECK_ERROR_HAS(labelled_elbo(m, Tensor(), y, gen), "labelled_elbo: input [] is not [B, ...]");
}

TEST_CASE("conditional VAE: every architecture, posterior family, flow and learned prior trains through given") {
  for (const char* arch : {"mlp", "conv"})
    for (const char* post : {"diagonal", "full", "lowrank:2"})
      for (const char* flow : {"none", "iaf:2", "sylvester:2"})
        for (const char* prior : {"normal", "mog:3"}) {
          CAPTURE(arch);
          CAPTURE(post);
          CAPTURE(flow);
          CAPTURE(prior);
          Generator gen(15);
          VaeOptions o = tiny(3);
          o.arch = parse_arch(arch), o.height = 4, o.width = 4, o.latent = 3;
          o.posterior = parse_posterior(post), o.flow = parse_flow(flow), o.prior = parse_prior(prior);
          VAE vae(o, gen);
          const Tensor x = bernoulli(rand({6, 16}, gen), gen);
          const Tensor y = tensor(std::vector<int64_t>{0, 1, 2, 2, 1, 0}, {6}, DType::i64);
          const Tensor l = loss(given(vae, y), x, gen, {}, 0);
          CHECK(std::isfinite(l.item()));
          l.backward();
          int reads = 0;
          for (const auto& [name, p] : vae.named_parameters()) {
            REQUIRE_MESSAGE(p.grad().defined(), name);
            // the label reaches both networks: the weights of its one-hot inputs, the last 3 columns of
            // the encoder's fc1 (mlp) or head (conv) and of the decoder's first layer, have gradients
            if (name == "fc1.weight" || name == "head.weight" || name == "fc3.weight" || name == "decoder.0.weight") {
              CHECK_MESSAGE(sum(abs(narrow(p.grad(), 1, p.size(1) - 3, 3))).item() > 0, name);
              ++reads;
            }
          }
          CHECK(reads == 2);
          CHECK(vae.sample_images(y, gen).shape() == Shape{6, 16});
        }
}

TEST_CASE("M2 (SemiSupervisedVae): a LabelModel over the conditional VAE and a classifier; its enumerated ELBO gradchecks") {
  Generator gen(16);
  SsvaeOptions o;
  o.vae = tiny(0), o.classes = 3, o.classifier_hidden = 5;
  SemiSupervisedVae m(o, gen);
  CHECK(m.classes() == 3);
  CHECK(m.vae().classes() == 3);
  CHECK(m.describe() == "M2: mlp VAE 4-6-2, given 3 classes, bernoulli likelihood; classifier 4-5-3");
  for (const char* name : {"vae.fc1.weight", "vae.fc3.weight", "classifier.0.weight", "classifier.2.bias"}) {
    bool found = false;
    for (const auto& [n, p] : m.named_parameters()) found = found || n == name;
    CHECK_MESSAGE(found, name);
  }
  const Tensor x = images(4, gen);
  CHECK(all_close(m.label_prior().probs(), full({3}, 1.0 / 3), 1e-7, 1e-7));
  const Tensor pred = m.predict(x);
  CHECK(pred.shape() == Shape{4});
  CHECK(pred.dtype() == DType::i64);
  CHECK(all_close(pred, argmax(m.classifier(x).logits(), 1), 0, 0));
  CHECK_ERROR_HAS(m.classifier(zeros({2, 5})), "SemiSupervisedVae::classifier: input [2, 5] is not [B, 4]");
  m.to(DType::f64);
  const Tensor x64 = images(2, gen, DType::f64);
  CHECK(gradcheck_params([&] {
    Generator g(17);
    return enumerated_elbo(m, x64, g).elbo;
  }, m.parameters()));
}

TEST_CASE("balanced labelled subset: an equal share of each class, the remainder spread, reproducible by the seed") {
  std::vector<int64_t> y;
  for (int64_t i = 0; i < 60; ++i) y.push_back(i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 2);
  y.push_back(2), y.push_back(2);  // class 2 has 22 examples, 0 and 1 have 20
  const Tensor labels = tensor(y, {int64_t(y.size())});
  Generator g1(1), g2(1), g3(2);
  const std::vector<int64_t> a = balanced_labelled_subset(labels, 3, 10, g1);
  CHECK(a == balanced_labelled_subset(labels, 3, 10, g2));
  CHECK(a != balanced_labelled_subset(labels, 3, 10, g3));
  REQUIRE(a.size() == 10);
  CHECK(std::is_sorted(a.begin(), a.end()));
  CHECK(std::adjacent_find(a.begin(), a.end()) == a.end());  // no row twice
  std::vector<int64_t> count(3, 0);
  for (int64_t i : a) ++count[size_t(y[size_t(i)])];
  std::sort(count.begin(), count.end());
  CHECK(count == std::vector<int64_t>{3, 3, 4});
  Generator g(3);
  CHECK(balanced_labelled_subset(labels, 3, 60, g).size() == 60);  // 20 of each: every example of classes 0, 1
  CHECK_ERROR_HAS(balanced_labelled_subset(labels, 3, 63, g), "--labels 63: needs at least one per class (3 classes) "
                  "and at most the 62 labelled examples");
  CHECK_ERROR_HAS(balanced_labelled_subset(labels, 3, 2, g), "--labels 2: needs at least one per class");
  const Tensor few = tensor(std::vector<int64_t>{0, 0, 0, 1, 1, 1, 2}, {7});
  CHECK_ERROR_HAS(balanced_labelled_subset(few, 3, 6, g), "--labels 6: class 2 has 1 examples, fewer than its share of 2");
  CHECK_ERROR_HAS(balanced_labelled_subset(few, 2, 4, g), "label 2 at position 6 is not a class in [0, 2)");
}

TEST_CASE("README: the labels section's code runs as written") {
  Generator gen(18);
  const Tensor x = bernoulli(rand({6, 784}, gen), gen);
  const Tensor y = tensor(std::vector<int64_t>{0, 3, 9, 1, 1, 7}, {6});
  VaeOptions o;
  o.latent = 20, o.condition = 10;  // q(z|x, y) and p(x|z, y) read one_hot(y) beside x and z
  VAE cvae(o, gen);
  const Tensor bound = models::elbo(given(cvae, y), x, gen).elbo;  // log p(x|y) >= this, per example
  const Tensor digits = cvae.sample_images(arange(10), gen);       // one image of each class

  SemiSupervisedVae m2({.vae = o, .classes = 10}, gen);  // p(y) uniform, q(y|x) a softplus MLP
  const Tensor unlabelled = enumerated_elbo(m2, x, gen).elbo;   // y summed out: log p(x) >= this
  const Tensor labelled = labelled_elbo(m2, x, y, gen).elbo;    // at the labels: log p(x, y) >= this
  const Tensor classification = -m2.classifier(x).log_prob(y);  // the paper's extra term
  const Tensor predicted = m2.predict(x);                       // argmax_y q(y|x)

  CHECK(bound.shape() == Shape{6});
  CHECK(digits.shape() == Shape{10, 784});
  for (const Tensor& t : {unlabelled, labelled, classification}) CHECK(t.shape() == Shape{6});
  CHECK(predicted.shape() == Shape{6});
  CHECK(min(classification, 0).item() >= 0);  // -log q(y|x) of a probability
  CHECK(std::isfinite(sum(unlabelled).item()));
}
