#include <models/likelihood.h>

#include <cmath>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::uniform;

TEST_CASE("bernoulli and gaussian log_prob against closed forms") {
  const Tensor logits = tensor({0.5, -1, 2, 0}, {2, 2}, DType::f64), x = tensor({1, 0, 0.3, 1}, {2, 2}, DType::f64);
  Likelihood b;
  const auto lp = b.log_prob(logits, x).to_vector<double>();
  auto bern = [](double l, double v) {
    const double p = 1 / (1 + std::exp(-l));
    return v * std::log(p) + (1 - v) * std::log(1 - p);
  };
  CHECK(lp[0] == doctest::Approx(bern(0.5, 1) + bern(-1, 0)));
  CHECK(lp[1] == doctest::Approx(bern(2, 0.3) + bern(0, 1)));
  Likelihood g = parse_likelihood("gaussian");
  g.gaussian_std = 0.5;
  const auto lg = g.log_prob(logits, x).to_vector<double>();
  auto normal = [](double m, double v, double s) { return -0.5 * std::pow((v - m) / s, 2) - std::log(s) - 0.5 * std::log(2 * M_PI); };
  CHECK(lg[0] == doctest::Approx(normal(0.5, 1, 0.5) + normal(-1, 0, 0.5)));
  g.learned_std = true;
  const Tensor out = tensor({0.5, -1, std::log(0.2), std::log(3.0)}, {1, 4}, DType::f64);
  CHECK(g.log_prob(out, tensor({1, 0}, {1, 2}, DType::f64)).item() ==
        doctest::Approx(normal(0.5, 1, 0.2) + normal(-1, 0, 3.0)));
  CHECK_ERROR_HAS(b.log_prob(ones({2, 3}), ones({2, 2})), "bernoulli likelihood: decoder output [2, 3] does not fit data [2, 2]");
  CHECK_ERROR_HAS(parse_likelihood("poisson"), "--likelihood: 'poisson' is not one of");
}

TEST_CASE("continuous Bernoulli: normalizer integrates the density to one, and is smooth at lambda = 1/2") {
  // integral over [0, 1] of C(lambda) lambda^x (1 - lambda)^(1 - x) dx = 1
  for (double l : {-8.0, -1.0, -0.02, -0.005, 0.0, 0.003, 0.5, 4.0}) {
    const double logc = continuous_bernoulli_log_norm(tensor({l}, {1}, DType::f64)).item();
    const double lam = 1 / (1 + std::exp(-l));
    double integral = 0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
      const double x = (i + 0.5) / n;
      integral += std::exp(logc + x * std::log(lam) + (1 - x) * std::log(1 - lam)) / n;
    }
    CHECK(integral == doctest::Approx(1).epsilon(1e-6));
  }
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return continuous_bernoulli_log_norm(in[0]); }, {uniform({6}, gen, -3, 3)}));
  CHECK(gradcheck([](auto& in) { return continuous_bernoulli_log_norm(in[0]); }, {uniform({6}, gen, -0.009, 0.009)}));
  Likelihood cb = parse_likelihood("continuous-bernoulli");
  const auto m = cb.mean(tensor({-3, 0, 1e-5, 3}, {1, 4}, DType::f64)).to_vector<double>();
  CHECK(m[1] == doctest::Approx(0.5));
  CHECK(m[2] == doctest::Approx(0.5));
  CHECK(m[0] < 0.5);
  CHECK(m[3] > 0.5);
}

TEST_CASE("categorical over K levels: probabilities of all levels sum to one; gradchecks") {
  Likelihood c = parse_likelihood("categorical");
  c.levels = 4;
  Generator gen(2);
  const Tensor out = uniform({1, 4}, gen, -1, 1);  // one pixel, 4 levels
  double total = 0;
  for (double v : {0.1, 0.3, 0.6, 1.0}) total += std::exp(c.log_prob(out, tensor({v}, {1, 1}, DType::f64)).item());
  CHECK(total == doctest::Approx(1));
  const Tensor x = tensor({0.0, 0.5, 0.99}, {1, 3}, DType::f64);
  CHECK(gradcheck([c, x](auto& in) { return c.log_prob(in[0], x); }, {uniform({1, 12}, gen, -1, 1)}));
  Likelihood b;
  CHECK(gradcheck([b, x](auto& in) { return b.log_prob(in[0], x); }, {uniform({1, 3}, gen, -2, 2)}));
  Likelihood g = parse_likelihood("gaussian");
  g.learned_std = true;
  CHECK(gradcheck([g, x](auto& in) { return g.log_prob(in[0], x); }, {uniform({1, 6}, gen, -1, 1)}));
  CHECK(c.mean(out).shape() == Shape{1, 1});
}
