#include <models/dataset.h>
#include <models/likelihood.h>

#include <cmath>
#include <numbers>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::uniform;

namespace {
std::shared_ptr<const Likelihood> head(LikelihoodKind kind, double std = 0.1, bool learned = false, int64_t levels = 16) {
  return make_likelihood({.kind = kind, .gaussian_std = std, .learned_std = learned, .levels = levels});
}
double log_prob(const Likelihood& h, const Tensor& out, const Tensor& x, size_t row = 0) {
  return h.distribution(out).log_prob(x).to_vector<double>().at(row);
}
}  // namespace

TEST_CASE("bernoulli and gaussian heads: log_prob against closed forms, one figure per example") {
  const Tensor logits = tensor({0.5, -1, 2, 0}, {2, 2}, DType::f64), x = tensor({1, 0, 0.3, 1}, {2, 2}, DType::f64);
  const auto b = head(LikelihoodKind::bernoulli);
  const dist::AnyDistribution px = b->distribution(logits);
  CHECK(px.name() == "Independent<Bernoulli>");
  CHECK(px.batch_shape() == Shape{2});
  CHECK(px.event_shape() == Shape{2});
  auto bern = [](double l, double v) {
    const double p = 1 / (1 + std::exp(-l));
    return v * std::log(p) + (1 - v) * std::log(1 - p);
  };
  CHECK(log_prob(*b, logits, x, 0) == doctest::Approx(bern(0.5, 1) + bern(-1, 0)));
  CHECK(log_prob(*b, logits, x, 1) == doctest::Approx(bern(2, 0.3) + bern(0, 1)));
  auto normal = [](double m, double v, double s) {
    return -0.5 * std::pow((v - m) / s, 2) - std::log(s) - 0.5 * std::log(2 * std::numbers::pi);
  };
  const auto g = head(LikelihoodKind::gaussian, 0.5);
  CHECK(log_prob(*g, logits, x) == doctest::Approx(normal(0.5, 1, 0.5) + normal(-1, 0, 0.5)));
  const auto gl = head(LikelihoodKind::gaussian, 0.1, true);
  CHECK(gl->out_features(2) == 4);
  CHECK(gl->channels() == 2);
  const Tensor out = tensor({0.5, -1, std::log(0.2), std::log(3.0)}, {1, 4}, DType::f64);
  CHECK(log_prob(*gl, out, tensor({1, 0}, {1, 2}, DType::f64)) ==
        doctest::Approx(normal(0.5, 1, 0.2) + normal(-1, 0, 3.0)));
  CHECK(b->name() == "bernoulli");
  CHECK(g->name() == "gaussian-std-0.5");
  CHECK(gl->name() == "gaussian-learned-std");
  CHECK_ERROR_HAS(gl->distribution(ones({2, 3})), "gaussian-learned-std likelihood: decoder output [2, 3] is not [N, 2D]");
  CHECK_ERROR_HAS(b->distribution(ones({2, 3})).log_prob(ones({2, 2})), "Bernoulli: value [2, 2] and batch_shape ++ event_shape [2, 3]");
  CHECK_ERROR_HAS(parse_likelihood("poisson"), "--likelihood: 'poisson' is not one of");
  CHECK_ERROR_HAS(make_likelihood({.kind = LikelihoodKind::gaussian, .gaussian_std = 0}), "the std must be a finite number > 0, got 0");
}

TEST_CASE("categorical head: levels partition [0, 1], probabilities of all levels sum to one, gradchecks") {
  const auto c = head(LikelihoodKind::categorical, 0.1, false, 4);
  CHECK(c->out_features(3) == 12);
  CHECK(IntensityCategorical::level_of(tensor({0, 0.24, 0.25, 0.5, 0.99, 1}, {6}), 4).to_vector<int64_t>() ==
        std::vector<int64_t>{0, 0, 1, 2, 3, 3});
  CHECK_ERROR_HAS(IntensityCategorical::level_of(tensor({0.5, 1.5}, {2}), 4), "value [2] must be in [0, 1] (found 1.5 at index 1)");
  Generator gen(2);
  const Tensor out = uniform({1, 4}, gen, -1, 1);  // one pixel, 4 levels
  double total = 0;
  for (double v : {0.1, 0.3, 0.6, 1.0}) total += std::exp(log_prob(*c, out, tensor({v}, {1, 1}, DType::f64)));
  CHECK(total == doctest::Approx(1));
  // the mean is the expected level centre
  const auto p = softmax(out, 1).to_vector<double>();
  double m = 0;
  for (int k = 0; k < 4; ++k) m += p[size_t(k)] * (k + 0.5) / 4;
  CHECK(c->mean(out).item() == doctest::Approx(m));
  const Tensor x = tensor({0.0, 0.5, 0.99}, {1, 3}, DType::f64);
  CHECK(gradcheck([c, x](auto& in) { return c->distribution(in[0]).log_prob(x); }, {uniform({1, 12}, gen, -1, 1)}));
  const auto b = head(LikelihoodKind::bernoulli);
  CHECK(gradcheck([b, x](auto& in) { return b->distribution(in[0]).log_prob(x); }, {uniform({1, 3}, gen, -2, 2)}));
  const auto g = head(LikelihoodKind::gaussian, 0.1, true);
  CHECK(gradcheck([g, x](auto& in) { return g->distribution(in[0]).log_prob(x); }, {uniform({1, 6}, gen, -1, 1)}));
  // a convolutional decoder's planes [N, K, H, W] become rows with each pixel's K levels side by side
  const Tensor planes = tensor({0, 1, 2, 3, 10, 11, 12, 13}, {1, 2, 2, 2});
  const auto c2 = head(LikelihoodKind::categorical, 0.1, false, 2);
  CHECK(c2->rows(planes).to_vector<double>() == std::vector<double>{0, 10, 1, 11, 2, 12, 3, 13});
  CHECK(b->rows(planes).to_vector<double>() == std::vector<double>{0, 1, 2, 3, 10, 11, 12, 13});
}

TEST_CASE("continuous Bernoulli head: the density integrates to one over [0, 1], also near lambda = 1/2") {
  const auto cb = head(LikelihoodKind::continuous_bernoulli);
  for (double l : {-8.0, -1.0, -0.02, -0.005, 0.0, 0.003, 0.5, 4.0}) {
    const int n = 20000;
    std::vector<double> xs(n);
    for (int i = 0; i < n; ++i) xs[size_t(i)] = (i + 0.5) / n;
    const Tensor lp = cb->distribution(full({n, 1}, l, DType::f64)).log_prob(tensor(xs, {n, 1}, DType::f64));
    CHECK(sum(exp(lp)).item() / n == doctest::Approx(1).epsilon(1e-6));
  }
  const auto m = cb->mean(tensor({-3, 0, 1e-5, 3}, {1, 4}, DType::f64)).to_vector<double>();
  CHECK(m[1] == doctest::Approx(0.5));
  CHECK(m[2] == doctest::Approx(0.5));
  CHECK(m[0] < 0.5);
  CHECK(m[3] > 0.5);
}

TEST_CASE("bad model settings are errors naming the setting") {
  CHECK_ERROR_HAS(make_likelihood({.kind = LikelihoodKind::categorical, .levels = 1}),
                  "categorical likelihood: needs at least 2 levels, got 1");
  CHECK_ERROR_HAS(head(LikelihoodKind::categorical, 0.1, false, 4)->distribution(ones({2, 6})),
                  "categorical-4 likelihood: decoder output [2, 6] is not [N, 4D]");
}

TEST_CASE("discretized logistic: the 256 levels' probabilities sum to one, edges, the bin mass, gradients") {
  const Tensor levels = arange(0, 256, 1, DType::f64) / 255.0;  // every 8-bit intensity
  for (double loc : {-0.3, 0.0, 0.42, 1.0, 1.5})
    for (double log_s : {-6.0, -3.0, -1.0, 1.5}) {
      INFO("loc ", loc, " log_scale ", log_s);
      const DiscretizedLogistic d(full({256}, loc, DType::f64), full({256}, log_s, DType::f64));
      CHECK(sum(exp(d.log_prob(levels))).item() == doctest::Approx(1.0).epsilon(1e-6));
    }
  // an interior level holds the logistic's mass on its bin: sigmoid((x - m + 1/510)/s) - sigmoid((x - m - 1/510)/s)
  const double m = 0.4, s = 0.05, x = 100.0 / 255;
  auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
  const DiscretizedLogistic d(full({}, m, DType::f64), full({}, std::log(s), DType::f64));
  CHECK(d.log_prob(full({}, x, DType::f64)).item() ==
        doctest::Approx(std::log(sig((x - m + 1.0 / 510) / s) - sig((x - m - 1.0 / 510) / s))).epsilon(1e-12));
  CHECK(d.log_prob(zeros({}, DType::f64)).item() == doctest::Approx(std::log(sig((0 - m + 1.0 / 510) / s))).epsilon(1e-12));
  Generator gen(3);
  const Tensor draws = d.sample(gen, {1000});
  const auto v = draws.to_vector<double>();
  for (double a : v) CHECK(std::abs(a * 255 - std::round(a * 255)) < 1e-9);
  CHECK(gradcheck([&](auto& in) { return DiscretizedLogistic(in[0], in[1]).log_prob(tensor({0.0, 3.0 / 255, 0.5, 1.0}, {4}, DType::f64)); },
                  {uniform({4}, gen, 0.1, 0.9), uniform({4}, gen, -3, -1)}));
  auto h = head(LikelihoodKind::discretized_logistic);
  CHECK(h->name() == "discretized-logistic");
  CHECK(h->out_features(784) == 1568);
  CHECK(h->scale() == LikelihoodScale::probability);
  CHECK_ERROR_HAS(parse_likelihood("logistic"), "discretized-logistic");
  CHECK_ERROR_HAS(DiscretizedLogistic(zeros({2}), zeros({3})), "DiscretizedLogistic: loc [2] and log_scale [3] differ");
  CHECK_ERROR_HAS(d.log_prob(full({}, 1.5, DType::f64)), "DiscretizedLogistic: value");
}

TEST_CASE("bits per dimension: probabilities of 8-bit images and densities of dequantized ones") {
  const int64_t d = 784;
  // a uniform categorical over 256 levels spends 8 bits per pixel, as does the uniform density on [0, 1]
  CHECK(bits_per_dim(-double(d) * std::log(256.0), LikelihoodScale::probability, d) == doctest::Approx(8.0));
  CHECK(bits_per_dim(0.0, LikelihoodScale::density, d) == doctest::Approx(8.0));
  CHECK(std::isnan(bits_per_dim(-100.0, LikelihoodScale::other, d)));
  CHECK(head(LikelihoodKind::categorical, 0.1, false, 256)->scale() == LikelihoodScale::probability);
  CHECK(head(LikelihoodKind::categorical, 0.1, false, 16)->scale() == LikelihoodScale::other);
  CHECK(head(LikelihoodKind::gaussian)->scale() == LikelihoodScale::density);
  CHECK(head(LikelihoodKind::continuous_bernoulli)->scale() == LikelihoodScale::density);
  CHECK(head(LikelihoodKind::bernoulli)->scale() == LikelihoodScale::other);
  // dequantization spreads level k over [k / 256, (k + 1) / 256)
  Generator gen(5);
  const Tensor x = arange(0, 256, 1, DType::f64) / 255.0;
  const auto v = binarize(x, Binarize::dequantize, gen).to_vector<double>();
  for (size_t k = 0; k < v.size(); ++k) CHECK((v[k] >= double(k) / 256 && v[k] < double(k + 1) / 256));
  CHECK(parse_binarize("dequantize") == Binarize::dequantize);
}
