#include <algorithm>
#include <cmath>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using dist::ContinuousBernoulli;

static_assert(dist::Reparameterized<ContinuousBernoulli> && dist::HasEntropy<ContinuousBernoulli> &&
              dist::HasMoments<ContinuousBernoulli>);

TEST_CASE("ContinuousBernoulli matches torch: log_prob (values 0 and 1 too), log_norm, probs, moments, entropy") {
  // logits [2, 6]: |l| >= 0.3, and 0, 1e-3, -2.5e-3, 3.9e-3 inside torch's Taylor region
  const ContinuousBernoulli cb(fx(fx_::cb_logits));
  CHECK(cb.batch_shape() == Shape{2, 6});
  CHECK(cb.event_shape() == Shape{});
  CHECK_TORCH(cb.log_prob(fx(fx_::cb_value)), fx_::cb_log_prob);
  CHECK_TORCH(cb.log_norm(), fx_::cb_log_norm);
  CHECK_TORCH(cb.probs(), fx_::cb_probs);
  CHECK_TORCH(cb.mean(), fx_::cb_mean);
  CHECK_TORCH(cb.variance(), fx_::cb_variance);
  CHECK_TORCH(cb.entropy(), fx_::cb_entropy);
}

TEST_CASE("ContinuousBernoulli cdf and icdf match torch (endpoints included)") {
  const ContinuousBernoulli cb(fx(fx_::cbq_logits));
  CHECK_TORCH(cb.cdf(fx(fx_::cbq_x)), fx_::cbq_cdf);
  CHECK_TORCH(cb.icdf(fx(fx_::cbq_p)), fx_::cbq_icdf);
}

TEST_CASE("ContinuousBernoulli::from_probs matches torch, exact 0 and 1 and probs 1/2 included") {
  const Tensor p = fx(fx_::cbp_probs);
  const ContinuousBernoulli cb = ContinuousBernoulli::from_probs(p);
  CHECK_TORCH(cb.logits(), fx_::cbp_logits);
  CHECK_TORCH(cb.log_prob(fx(fx_::cbp_value)), fx_::cbp_log_prob);
  CHECK_TORCH(cb.mean(), fx_::cbp_mean);
  CHECK_TORCH(cb.variance(), fx_::cbp_variance);
  CHECK_TORCH(cb.entropy(), fx_::cbp_entropy);
  CHECK(cb.probs().same(p));  // kept as given
}

// The cbmp_* fixtures are mpmath at 100 digits of the very doubles given: near 0, on both sides of the
// series cuts (0.25 and 1e-3 in f64, 1 and 0.1 in f32) and at large |logits|, where torch clamps probs.
TEST_CASE("ContinuousBernoulli agrees with mpmath to 1e-13 in f64 across the series cuts and at large |logits|") {
  const ContinuousBernoulli cb(fx(fx_::cbmp_logits));
  const auto close = [](const Tensor& t, const fixtures::Array& ref) { return torch_mismatch(t, ref, 1e-13); };
  CHECK(close(cb.log_norm(), fx_::cbmp_log_norm) == "");
  CHECK(close(cb.mean(), fx_::cbmp_mean) == "");
  CHECK(close(cb.variance(), fx_::cbmp_variance) == "");
  CHECK(close(cb.entropy(), fx_::cbmp_entropy) == "");
  const ContinuousBernoulli q(fx(fx_::cbmp_q_logits));  // [14, 1] against values [6]: [14, 6]
  CHECK(close(q.cdf(fx(fx_::cbmp_q_x)), fx_::cbmp_cdf) == "");
  CHECK(close(q.icdf(fx(fx_::cbmp_q_x)), fx_::cbmp_icdf) == "");
}

TEST_CASE("ContinuousBernoulli in f32 stays within 1e-6 of mpmath (relative; 1e-7 absolute)") {
  const auto close = [](const Tensor& t, const fixtures::Array& ref) {
    CHECK(t.dtype() == DType::f32);
    return all_close(t.to_vector<double>(), ref.values, 1e-6, 1e-7);
  };
  const ContinuousBernoulli cb(fx(fx_::cbmp_logits, DType::f32));
  CHECK(close(cb.log_norm(), fx_::cbmp_log_norm));
  CHECK(close(cb.mean(), fx_::cbmp_mean));
  CHECK(close(cb.variance(), fx_::cbmp_variance));
  CHECK(close(cb.entropy(), fx_::cbmp_entropy));
  const ContinuousBernoulli q(fx(fx_::cbmp_q_logits, DType::f32));
  CHECK(close(q.cdf(fx(fx_::cbmp_q_x, DType::f32)), fx_::cbmp_cdf));
  CHECK(close(q.icdf(fx(fx_::cbmp_q_x, DType::f32)), fx_::cbmp_icdf));
}

TEST_CASE("ContinuousBernoulli: the density integrates to 1 and its moments (midpoint rule), icdf inverts cdf") {
  const int64_t m = 200000;
  const Tensor x = reshape((arange(m, DType::f64) + 0.5) * (1.0 / double(m)), {m, 1});
  const ContinuousBernoulli cb(tensor({-7, -0.8, -1e-4, 0, 0.2, 3}, {6}, DType::f64));
  const Tensor dens = exp(cb.log_prob(x));
  CHECK(all_close(mean(dens, {0}), ones({6}, DType::f64), 1e-8, 0));
  const Tensor mu = mean(x * dens, {0});
  CHECK(all_close(mu, cb.mean(), 1e-8, 0));
  CHECK(all_close(mean(square(x - mu) * dens, {0}), cb.variance(), 1e-7, 0));
  CHECK(all_close(mean(-cb.log_prob(x) * dens, {0}), cb.entropy(), 0, 1e-8));
  const Tensor p = tensor({0, 1e-9, 0.01, 0.3, 0.5, 0.77, 0.999, 1}, {8, 1}, DType::f64);
  CHECK(all_close(cb.cdf(cb.icdf(p)), expand(p, {8, 6}), 1e-12, 0));
  CHECK(all_close(cb.icdf(cb.cdf(p)), expand(p, {8, 6}), 1e-12, 0));
  // value 1/2 under a symmetric density; the cdf is a ratio of expm1s that does not overflow at logits 800
  CHECK(ContinuousBernoulli(zeros({}, DType::f64)).cdf(full({}, 0.5, DType::f64)).item() == 0.5);
  CHECK(ContinuousBernoulli(full({}, 800, DType::f64)).cdf(full({}, 0.5, DType::f64)).item() ==
        doctest::Approx(std::exp(-400.0)).epsilon(1e-12));
}

TEST_CASE("ContinuousBernoulli gradchecks (f64) wrt logits and values, far from 0, in and across the series") {
  Generator gen(31);
  for (auto [lo, hi] : {std::pair{-4.0, 4.0}, std::pair{-0.24, 0.24}, std::pair{-9e-4, 9e-4}, std::pair{0.3, 1.5}}) {
    CAPTURE(lo);
    const Tensor l = uniform({2, 3}, gen, lo, hi), x = uniform({2, 3}, gen, 0.02, 0.98);
    const Tensor p = uniform({2, 3}, gen, 0.02, 0.98);
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).log_prob(in[1]); }, {l, x}));
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).log_norm(); }, {l}));
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).mean(); }, {l}));
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).variance(); }, {l}));
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).entropy(); }, {l}));
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).cdf(in[1]); }, {l, x}));
    CHECK(gradcheck([](auto& in) { return ContinuousBernoulli(in[0]).icdf(in[1]); }, {l, p}));
    CHECK(gradcheck(
        [](auto& in) {
          Generator g(8);
          return ContinuousBernoulli(in[0]).rsample(g, {2});
        },
        {l}));
  }
  const Tensor pr = uniform({4}, gen, 0.05, 0.95), x = uniform({4}, gen, 0.05, 0.95);
  CHECK(gradcheck([](auto& in) { return ContinuousBernoulli::from_probs(in[0]).log_prob(in[1]); }, {pr, x}));
  CHECK(gradcheck([](auto& in) { return ContinuousBernoulli::from_probs(in[0]).entropy(); }, {pr}));
}

TEST_CASE("ContinuousBernoulli rsample is icdf of the generator's uniforms; sample draws the same, without a graph") {
  Tensor logits = tensor({-2, 0, 5e-4, 1.5}, {4}, DType::f64).requires_grad_();
  const ContinuousBernoulli cb(logits);
  Generator a(5), b(5), c(5);
  const Tensor z = cb.rsample(a, {3});
  CHECK(z.shape() == Shape{3, 4});
  CHECK(z.requires_grad());
  CHECK(all_close(z, cb.icdf(rand({3, 4}, b, DType::f64)), 0, 0));
  const Tensor s = cb.sample(c, {3});
  CHECK_FALSE(s.requires_grad());
  CHECK(all_close(s, z.detach(), 0, 0));
  CHECK(ContinuousBernoulli(zeros({2, 1})).sample(a).shape() == Shape{2, 1});
  CHECK(ContinuousBernoulli(zeros({2}, DType::f32)).rsample(a, {5}).dtype() == DType::f32);
}

TEST_CASE("ContinuousBernoulli sampling statistics: mean, variance and F(X) ~ U(0, 1) within 5 standard errors") {
  Generator gen(2025);
  const int64_t n = 40000;
  const std::vector<double> l{-6, -0.7, 0, 1e-4, 0.1, 2.5};
  const ContinuousBernoulli cb(tensor(l, {6}, DType::f64));
  const std::vector<double> mu = cb.mean().to_vector<double>(), var = cb.variance().to_vector<double>();
  for (bool reparam : {false, true}) {
    CAPTURE(reparam);
    const Tensor x = reparam ? cb.rsample(gen, {n}) : cb.sample(gen, {n});
    const std::vector<double> s = x.to_vector<double>(), u = cb.cdf(x).to_vector<double>();
    for (size_t j = 0; j < l.size(); ++j) {
      CAPTURE(l[j]);
      const std::vector<double> c = column(s, l.size(), j);
      CHECK(*std::min_element(c.begin(), c.end()) >= 0);
      CHECK(*std::max_element(c.begin(), c.end()) <= 1);
      CHECK_WITHIN_5SE(mean_se(c), mu[j]);
      std::vector<double> sq;
      for (double v : c) sq.push_back((v - mu[j]) * (v - mu[j]));
      CHECK_WITHIN_5SE(mean_se(sq), var[j]);
      CHECK_WITHIN_5SE(mean_se(column(u, l.size(), j)), 0.5);
    }
  }
}

TEST_CASE("ContinuousBernoulli with |logits| up to 1e4 and exactly 0: finite values and gradients (f32 and f64)") {
  for (DType d : {DType::f32, DType::f64}) {
    INFO(std::string(name(d)));
    Tensor logits = tensor({-1e4, -100, -30, 0, 30, 100, 1e4}, {7}, d).requires_grad_();
    const ContinuousBernoulli cb(logits);
    Generator gen(3);
    const Tensor v = tensor({0, 0.5, 1}, {3, 1}, d), p = tensor({0, 1e-3, 0.5, 1}, {4, 1}, d);
    const Tensor lp = cb.log_prob(v), h = cb.entropy(), mu = cb.mean(), var = cb.variance();
    const Tensor f = cb.cdf(v), q = cb.icdf(p), z = cb.rsample(gen, {50});
    for (const Tensor& t : {lp, h, mu, var, f, q, z})
      for (double e : t.to_vector<double>()) CHECK(std::isfinite(e));
    // log p(x) = l x - A(l), A(l) = log((e^l - 1) / l): at l = 100, log p(1) = log(100) - log1p(-e^-100)
    CHECK(lp.to_vector<double>()[2 * 7 + 5] == doctest::Approx(std::log(100.0)).epsilon(1e-6));
    CHECK(lp.to_vector<double>()[5] == doctest::Approx(std::log(100.0) - 100).epsilon(1e-6));
    CHECK(mu.to_vector<double>()[6] == doctest::Approx(1 - 1e-4).epsilon(1e-6));
    CHECK(var.to_vector<double>()[0] == doctest::Approx(1e-8).epsilon(1e-5));
    CHECK(h.to_vector<double>()[0] == doctest::Approx(1 - std::log(1e4)).epsilon(1e-5));
    for (double e : q.to_vector<double>()) CHECK((e >= 0 && e <= 1));
    sum(lp + h + mu + var).backward();
    for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
    logits.set_grad(Tensor());
    (sum(f) + sum(q) + sum(z)).backward();
    for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
  }
}

TEST_CASE("ContinuousBernoulli validation errors") {
  CHECK_ERROR_HAS(ContinuousBernoulli(tensor({0, INFINITY}, {2})),
                  "ContinuousBernoulli: logits [2] must be finite (found inf at index 1)");
  CHECK_ERROR_HAS(ContinuousBernoulli(tensor({NAN}, {1, 1})),
                  "ContinuousBernoulli: logits [1, 1] must be finite (found nan at index 0)");
  CHECK_ERROR_HAS(ContinuousBernoulli(arange(2)),
                  "ContinuousBernoulli: logits must be a floating-point tensor (f32 or f64), got i64 [2]");
  CHECK_ERROR_HAS(ContinuousBernoulli::from_probs(tensor({0.2, 1.5}, {2})),
                  "ContinuousBernoulli: probs [2] must be in [0, 1] (found 1.5 at index 1)");
  const ContinuousBernoulli cb(zeros({2}));
  CHECK_ERROR_HAS(cb.log_prob(tensor({-0.5, 1}, {2})),
                  "ContinuousBernoulli: value [2] must be in [0, 1] (found -0.5 at index 0)");
  CHECK_ERROR_HAS(cb.log_prob(zeros({3})),
                  "ContinuousBernoulli: value [3] and batch_shape ++ event_shape [2] cannot be broadcast together");
  CHECK_ERROR_HAS(cb.cdf(tensor({1.25}, {1})),
                  "ContinuousBernoulli: value [1] must be in [0, 1] (found 1.25 at index 0)");
  CHECK_ERROR_HAS(cb.icdf(tensor({0.5, -1}, {2})),
                  "ContinuousBernoulli: p [2] must be in [0, 1] (found -1 at index 1)");
  CHECK_ERROR_HAS(cb.icdf(arange(2)), "ContinuousBernoulli: p must be a floating-point tensor");
  dist::ValidateArgsGuard off(false);
  CHECK_NOTHROW(ContinuousBernoulli(tensor({INFINITY}, {1})));
  // without validation, values outside [0, 1] score as torch's cdf does: 0 below, 1 above
  CHECK(cb.cdf(tensor({-0.5, 1.5}, {2})).to_vector<double>() == std::vector<double>{0, 1});
  CHECK_ERROR_HAS(cb.log_prob(zeros({3})), "cannot be broadcast together");  // shape checks stay
}
