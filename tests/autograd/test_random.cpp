#include <cmath>

#include "test_util.h"

using namespace elbo;

TEST_CASE("Generator: seeded and reproducible; state round-trips") {
  Generator a(42), b(42), c(43);
  CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());
  Generator g(1);
  (void)g.normal();
  const auto st = g.state();
  const double x = g.normal(), y = g.uniform();
  g.set_state(st);
  CHECK(g.normal() == x);
  CHECK(g.uniform() == y);
  CHECK(randn({5}, a).to_vector<float>() != randn({5}, a).to_vector<float>());
  Generator d(7), e(7);
  CHECK(randn({100}, d, DType::f64).to_vector<double>() == randn({100}, e, DType::f64).to_vector<double>());
}

TEST_CASE("randn and rand moments within 5 standard errors") {
  Generator gen(3);
  const int64_t n = 200000;
  const auto z = randn({n}, gen, DType::f64).to_vector<double>();
  double m = 0, v = 0;
  for (double x : z) m += x;
  m /= n;
  for (double x : z) v += (x - m) * (x - m);
  v /= n - 1;
  CHECK(std::abs(m) < 5 / std::sqrt(double(n)));
  CHECK(std::abs(v - 1) < 5 * std::sqrt(2.0 / n));
  const auto u = rand({n}, gen).to_vector<double>();
  double mu = 0;
  for (double x : u) {
    REQUIRE(x >= 0);
    REQUIRE(x < 1);
    mu += x;
  }
  mu /= n;
  CHECK(std::abs(mu - 0.5) < 5 * std::sqrt(1.0 / 12 / n));
  CHECK(gen.below(1) == 0);
}

TEST_CASE("bernoulli, multinomial and categorical frequencies") {
  Generator gen(4);
  const int64_t n = 100000;
  const auto b = bernoulli(full({n}, 0.3, DType::f64), gen).to_vector<double>();
  double s = 0;
  for (double x : b) s += x;
  CHECK(std::abs(s / n - 0.3) < 5 * std::sqrt(0.3 * 0.7 / n));
  CHECK_ERROR_HAS(bernoulli(tensor({1.5}, {1}), gen), "bernoulli: probability 1.5 at index 0 is outside [0, 1]");

  const Tensor p = tensor({1, 2, 7}, {1, 3}, DType::f64);  // unnormalized
  const auto m = multinomial(p, n, true, gen).to_vector<int64_t>();
  std::vector<double> counts(3);
  for (int64_t k : m) counts[size_t(k)]++;
  for (int k = 0; k < 3; ++k) {
    const double q = std::vector<double>{0.1, 0.2, 0.7}[size_t(k)];
    CHECK(std::abs(counts[size_t(k)] / n - q) < 5 * std::sqrt(q * (1 - q) / n));
  }
  const auto w = multinomial(tensor({0, 1, 1, 0}, {4}), 2, false, gen).to_vector<int64_t>();
  CHECK(((w[0] == 1 && w[1] == 2) || (w[0] == 2 && w[1] == 1)));
  CHECK_ERROR_HAS(multinomial(tensor({0, 1, 0}, {3}), 2, false, gen), "fewer than 2 samples without replacement");
  CHECK_ERROR_HAS(multinomial(tensor({-1, 1}, {2}), 1, true, gen), "is negative or not finite");

  const Tensor logits = log(tensor({0.2, 0.5, 0.3}, {1, 3}, DType::f64));
  const Tensor many = expand(logits, {n, 3});
  const auto c = categorical(many, gen).to_vector<int64_t>();
  std::vector<double> cc(3);
  for (int64_t k : c) cc[size_t(k)]++;
  for (int k = 0; k < 3; ++k) {
    const double q = std::vector<double>{0.2, 0.5, 0.3}[size_t(k)];
    CHECK(std::abs(cc[size_t(k)] / n - q) < 5 * std::sqrt(q * (1 - q) / n));
  }
}
