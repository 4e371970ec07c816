#include <algorithm>
#include <cmath>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using dist::Bernoulli;

TEST_CASE("Bernoulli matches torch: log_prob of grayscale values, entropy, probs, moments") {
  const Bernoulli b(fx(fx_::bern_logits));
  CHECK(b.batch_shape() == Shape{2, 3});
  CHECK(b.event_shape() == Shape{});
  CHECK_TORCH(b.log_prob(fx(fx_::bern_value)), fx_::bern_log_prob);
  CHECK_TORCH(b.entropy(), fx_::bern_entropy);
  CHECK_TORCH(b.probs(), fx_::bern_probs);
  CHECK_TORCH(b.mean(), fx_::bern_mean);
  CHECK_TORCH(b.variance(), fx_::bern_variance);
}

TEST_CASE("Bernoulli::from_probs matches torch, exact 0 and 1 included") {
  const Tensor p = fx(fx_::bernp_probs);
  const Bernoulli b = Bernoulli::from_probs(p);
  CHECK_TORCH(b.logits(), fx_::bernp_logits);
  CHECK_TORCH(b.log_prob(fx(fx_::bernp_value)), fx_::bernp_log_prob);
  CHECK_TORCH(b.entropy(), fx_::bernp_entropy);
  CHECK(b.probs().same(p));  // kept as given
}

TEST_CASE("Bernoulli closed forms") {
  const double l = 0.7, s = 1 / (1 + std::exp(-l));
  const Bernoulli b(full({3}, l, DType::f64));
  const auto lp = b.log_prob(tensor({1, 0, 0.25}, {3}, DType::f64)).to_vector<double>();
  CHECK(lp[0] == doctest::Approx(std::log(s)).epsilon(1e-14));
  CHECK(lp[1] == doctest::Approx(std::log(1 - s)).epsilon(1e-14));
  CHECK(lp[2] == doctest::Approx(0.25 * std::log(s) + 0.75 * std::log(1 - s)).epsilon(1e-14));
  CHECK(b.entropy().to_vector<double>()[0] == doctest::Approx(-s * std::log(s) - (1 - s) * std::log(1 - s)).epsilon(1e-14));
  CHECK(b.variance().to_vector<double>()[0] == doctest::Approx(s * (1 - s)).epsilon(1e-14));
  // log_prob broadcasts value [4, 1] against batch [3]
  CHECK(b.log_prob(zeros({4, 1}, DType::f64)).shape() == Shape{4, 3});
  CHECK(Bernoulli::from_probs(full({2}, 0.5)).logits().to_vector<double>() == std::vector<double>{0, 0});
}

TEST_CASE("Bernoulli gradchecks: log_prob, entropy, variance wrt logits, probs and value") {
  Generator gen(21);
  const Tensor logits = uniform({2, 3}, gen, -3, 3), x = uniform({2, 3}, gen, 0, 1);
  CHECK(gradcheck([](auto& in) { return Bernoulli(in[0]).log_prob(in[1]); }, {logits, x}));
  CHECK(gradcheck([](auto& in) { return Bernoulli(in[0]).entropy(); }, {logits}));
  CHECK(gradcheck([](auto& in) { return Bernoulli(in[0]).variance(); }, {logits}));
  const Tensor p = uniform({2, 3}, gen, 0.05, 0.95);
  CHECK(gradcheck([](auto& in) { return Bernoulli::from_probs(in[0]).log_prob(in[1]); }, {p, x}));
  CHECK(gradcheck([](auto& in) { return Bernoulli::from_probs(in[0]).entropy(); }, {p}));
}

TEST_CASE("Bernoulli with logits +-100: finite log_prob, entropy and gradients (f32 and f64)") {
  for (DType d : {DType::f32, DType::f64}) {
    INFO(std::string(name(d)));
    Tensor logits = tensor({-100, 100, -100, 100, 100}, {5}, d).requires_grad_();
    const Bernoulli b(logits);
    const Tensor lp = b.log_prob(tensor({0, 1, 1, 0, 0.5}, {5}, d)), h = b.entropy();
    const auto v = lp.to_vector<double>();
    CHECK(v[0] == doctest::Approx(0).epsilon(1e-30));
    CHECK(v[2] == doctest::Approx(-100));
    CHECK(v[3] == doctest::Approx(-100));
    CHECK(v[4] == doctest::Approx(-50));
    for (double e : h.to_vector<double>()) CHECK((std::isfinite(e) && e >= 0 && e < 1e-30));
    sum(lp + h).backward();
    for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
  }
}

TEST_CASE("Bernoulli sample: shapes, 0/1 values, frequencies within 5 standard errors") {
  Generator gen(7);
  const std::vector<double> p{0.1, 0.5, 0.93};
  const Bernoulli b = Bernoulli::from_probs(tensor(p, {3}, DType::f64));
  const int64_t n = 40000;
  const Tensor s = b.sample(gen, {n});
  CHECK(s.shape() == Shape{n, 3});
  CHECK(s.dtype() == DType::f64);
  const std::vector<double> v = s.to_vector<double>();
  CHECK(std::count_if(v.begin(), v.end(), [](double x) { return x != 0 && x != 1; }) == 0);
  for (size_t j = 0; j < 3; ++j) CHECK_WITHIN_5SE(mean_se(column(v, 3, j)), p[j]);
  Tensor logits = zeros({2}).requires_grad_();
  CHECK_FALSE(Bernoulli(logits).sample(gen, {4}).requires_grad());
  CHECK(Bernoulli(zeros({2, 1})).sample(gen).shape() == Shape{2, 1});
}

TEST_CASE("Bernoulli validation errors") {
  CHECK_ERROR_HAS(Bernoulli::from_probs(tensor({0.2, 1, 1.5}, {3})), "Bernoulli: probs [3] must be in [0, 1] (found 1.5 at index 2)");
  CHECK_ERROR_HAS(Bernoulli::from_probs(tensor({-0.1}, {1})), "Bernoulli: probs [1] must be in [0, 1] (found -0.1 at index 0)");
  CHECK_ERROR_HAS(Bernoulli(tensor({0, NAN}, {2})), "Bernoulli: logits [2] must not be NaN (found nan at index 1)");
  CHECK_ERROR_HAS(Bernoulli(arange(2)), "Bernoulli: logits must be a floating-point tensor (f32 or f64), got i64 [2]");
  const Bernoulli b(zeros({2}));
  CHECK_ERROR_HAS(b.log_prob(tensor({-0.5, 1}, {2})), "Bernoulli: value [2] must be in [0, 1] (found -0.5 at index 0)");
  CHECK_ERROR_HAS(b.log_prob(tensor({2}, {1})), "Bernoulli: value [1] must be in [0, 1] (found 2 at index 0)");
  CHECK_ERROR_HAS(b.log_prob(zeros({3})), "Bernoulli: value [3] and batch_shape ++ event_shape [2] cannot be broadcast");
  dist::ValidateArgsGuard off(false);
  CHECK_NOTHROW(b.log_prob(tensor({-0.5, 1}, {2})));
  CHECK_NOTHROW(Bernoulli::from_probs(tensor({1.5}, {1})));
}
