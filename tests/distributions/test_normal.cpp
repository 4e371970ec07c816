#include <cmath>
#include <numbers>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using dist::Normal;

TEST_CASE("Normal matches torch: log_prob, entropy, moments, cdf, icdf (broadcast loc [2, 3], scale [3])") {
  const Normal n(fx(fx_::normal_loc), fx(fx_::normal_scale));
  CHECK(n.batch_shape() == Shape{2, 3});
  CHECK(n.event_shape() == Shape{});
  CHECK_TORCH(n.log_prob(fx(fx_::normal_value)), fx_::normal_log_prob);
  CHECK_TORCH(n.entropy(), fx_::normal_entropy);
  CHECK_TORCH(n.mean(), fx_::normal_mean);
  CHECK_TORCH(n.variance(), fx_::normal_variance);
  CHECK_TORCH(n.stddev(), fx_::normal_stddev);
  CHECK_TORCH(n.cdf(fx(fx_::normal_value)), fx_::normal_cdf);
  CHECK_TORCH(n.icdf(fx(fx_::normal_p)), fx_::normal_icdf);
}

TEST_CASE("Normal closed forms") {
  const Normal n(tensor({0.5, -1}, {2}, DType::f64), tensor({2, 0.25}, {2}, DType::f64));
  const auto lp = n.log_prob(tensor({1.5, -1}, {2}, DType::f64)).to_vector<double>();
  CHECK(lp[0] == doctest::Approx(-0.125 - std::log(2.0) - 0.5 * std::log(2 * std::numbers::pi)).epsilon(1e-14));
  CHECK(lp[1] == doctest::Approx(-std::log(0.25) - 0.5 * std::log(2 * std::numbers::pi)).epsilon(1e-14));
  const auto h = n.entropy().to_vector<double>();
  CHECK(h[0] == doctest::Approx(0.5 * std::log(2 * std::numbers::pi * std::numbers::e * 4)).epsilon(1e-14));
  CHECK(n.cdf(tensor({0.5, -1}, {2}, DType::f64)).to_vector<double>() == std::vector<double>{0.5, 0.5});
  CHECK(n.cdf(tensor({2.5, -0.75}, {2}, DType::f64)).to_vector<double>()[0] ==
        doctest::Approx(0.5 * std::erfc(-1 / std::numbers::sqrt2)).epsilon(1e-14));
  // icdf inverts cdf (within a few standard deviations, where cdf keeps its relative precision)
  const Tensor x = tensor({-1.2, -0.9, -0.7}, {3, 1}, DType::f64);
  CHECK(all_close(n.icdf(n.cdf(x)), expand(x, {3, 2}), 1e-12, 1e-12));
}

TEST_CASE("erf and erfinv: values, inverse, edges, gradients") {
  std::vector<double> ys;
  for (double y : {-0.999999999, -0.9, -0.5, -1e-5, 1e-9, 0.2, 0.51, 0.75, 0.99, 1 - 1e-12}) ys.push_back(y);
  const Tensor y = tensor(ys, {Shape::value_type(ys.size())}, DType::f64);
  const auto x = dist::erfinv(y).to_vector<double>();
  for (size_t i = 0; i < ys.size(); ++i) {
    CAPTURE(ys[i]);
    if (ys[i] > 0.5) CHECK(std::erfc(x[i]) == doctest::Approx(1 - ys[i]).epsilon(1e-14));
    else CHECK(std::erf(x[i]) == doctest::Approx(ys[i]).epsilon(1e-14));
  }
  // the far tail, against mpmath (torch's erfinv is off by 9e-10 relative at y = 1 - 2e-10)
  CHECK_TORCH(dist::erfinv(fx(fx_::erfinv_y)), fx_::erfinv_mpmath);
  const auto e = dist::erfinv(tensor({-1, 0, 1, 1.5}, {4}, DType::f64)).to_vector<double>();
  CHECK(e[0] == -INFINITY);
  CHECK(e[1] == 0);
  CHECK(e[2] == INFINITY);
  CHECK(std::isnan(e[3]));
  CHECK(dist::erfinv(tensor({0.3}, {1}, DType::f32)).dtype() == DType::f32);
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return dist::erf(in[0]); }, {uniform({5}, gen, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return dist::erfinv(in[0]); }, {uniform({5}, gen, -0.95, 0.95)}));
}

TEST_CASE("Normal shapes and dtypes: sample ++ batch, f32, mixed f32/f64 promote") {
  Generator gen(3);
  const Normal n(zeros({2, 3}), ones({3}));
  CHECK(n.sample(gen).shape() == Shape{2, 3});
  CHECK(n.rsample(gen, {5, 4}).shape() == Shape{5, 4, 2, 3});
  CHECK(n.sample(gen, {7}).dtype() == DType::f32);
  CHECK(n.log_prob(zeros({4, 1, 3})).shape() == Shape{4, 2, 3});
  const Normal m(zeros({3}, DType::f32), ones({3}, DType::f64));
  CHECK(m.dtype() == DType::f64);
  CHECK(m.loc().shape() == Shape{3});
  // a scalar loc broadcasts against a batch of scales
  CHECK(Normal(zeros({}), ones({4})).batch_shape() == Shape{4});
}

TEST_CASE("Normal gradchecks: log_prob, entropy, cdf, icdf wrt every parameter and the value") {
  Generator gen(5);
  const Tensor loc = uniform({2, 3}, gen, -1, 1), scale = uniform({3}, gen, 0.5, 2);
  CHECK(gradcheck([](auto& in) { return Normal(in[0], in[1]).log_prob(in[2]); },
                  {loc, scale, uniform({2, 3}, gen, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return Normal(in[0], in[1]).entropy(); }, {loc, scale}, {.allow_unused = true}));
  CHECK(gradcheck([](auto& in) { return Normal(in[0], in[1]).cdf(in[2]); }, {loc, scale, uniform({2, 3}, gen, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return Normal(in[0], in[1]).icdf(in[2]); },
                  {loc, scale, uniform({2, 3}, gen, 0.05, 0.95)}));
  CHECK(gradcheck([](auto& in) { return Normal(in[0], in[1]).variance(); }, {loc, scale}, {.allow_unused = true}));
  CHECK(gradcheck(
      [](auto& in) {
        Generator g(9);  // the same noise on every evaluation
        return Normal(in[0], in[1]).rsample(g, {2});
      },
      {loc, scale}));
}

TEST_CASE("Normal rsample is pathwise: d sum(z)/d loc = 1, d sum(z)/d scale = eps") {
  Tensor loc = tensor({0.5, -1, 2}, {3}, DType::f64).requires_grad_();
  Tensor scale = tensor({1, 0.5, 3}, {3}, DType::f64).requires_grad_();
  Generator gen(11), twin(11);
  const Tensor z = Normal(loc, scale).rsample(gen);
  sum(z).backward();
  const Tensor eps = randn({3}, twin, DType::f64);
  CHECK(loc.grad().to_vector<double>() == std::vector<double>{1, 1, 1});
  CHECK(all_close(scale.grad(), eps, 1e-15, 0));
  CHECK(all_close(z, loc.detach() + scale.detach() * eps, 1e-15, 0));
  // with sample_shape {4}: the gradients sum over the draws
  loc.set_grad(Tensor()), scale.set_grad(Tensor());
  sum(Normal(loc, scale).rsample(gen, {4})).backward();
  CHECK(loc.grad().to_vector<double>() == std::vector<double>{4, 4, 4});
  CHECK(all_close(scale.grad(), sum(randn({4, 3}, twin, DType::f64), {0}), 1e-14, 1e-14));
}

TEST_CASE("Normal sample has no graph and draws the same noise as rsample") {
  Tensor loc = zeros({2}, DType::f64).requires_grad_();
  Generator a(2), b(2);
  const Normal n(loc, ones({2}, DType::f64));
  const Tensor s = n.sample(a, {3});
  CHECK_FALSE(s.requires_grad());
  CHECK(all_close(s, n.rsample(b, {3}), 0, 0));
}

TEST_CASE("Normal sampling statistics: means and variances within 5 standard errors") {
  Generator gen(2024);
  const int64_t n = 40000;
  const std::vector<double> mu{-1, 2, 0.3}, sigma{0.5, 3, 1};
  const Normal d(tensor(mu, {3}, DType::f64), tensor(sigma, {3}, DType::f64));
  const std::vector<double> s = d.sample(gen, {n}).to_vector<double>();
  for (size_t j = 0; j < 3; ++j) {
    const std::vector<double> c = column(s, 3, j);
    CHECK_WITHIN_5SE(mean_se(c), mu[j]);
    std::vector<double> sq;
    for (double x : c) sq.push_back((x - mu[j]) * (x - mu[j]));
    CHECK_WITHIN_5SE(mean_se(sq), sigma[j] * sigma[j]);
  }
}

TEST_CASE("Normal validation errors name the parameter, its shape and the constraint") {
  const Tensor bad = tensor({1, 2, 3, 1, -1, 2}, {2, 3}, DType::f64);
  CHECK_ERROR_HAS(Normal(zeros({2, 3}), bad), "Normal: scale [2, 3] must be > 0 (found -1 at index 4)");
  CHECK_ERROR_HAS(Normal(zeros({3}), tensor({1, 0, 1}, {3})), "Normal: scale [3] must be > 0 (found 0 at index 1)");
  CHECK_ERROR_HAS(Normal(zeros({2}), full({2}, NAN)), "Normal: scale [2] must be > 0 (found nan at index 0)");
  CHECK_ERROR_HAS(Normal(tensor({0, NAN}, {2}), ones({2})), "Normal: loc [2] must not be NaN (found nan at index 1)");
  CHECK_ERROR_HAS(Normal(zeros({2, 3}), ones({4})), "Normal: loc [2, 3] and scale [4] cannot be broadcast together");
  CHECK_ERROR_HAS(Normal(arange(3), ones({3})), "Normal: loc must be a floating-point tensor (f32 or f64), got i64 [3]");
  const Normal n(zeros({2, 3}), ones({2, 3}));
  CHECK_ERROR_HAS(n.log_prob(zeros({5})),
                  "Normal: value [5] and batch_shape ++ event_shape [2, 3] cannot be broadcast together");
  CHECK_ERROR_HAS(n.log_prob(full({3}, NAN)), "Normal: value [3] must not be NaN (found nan at index 0)");
  CHECK_ERROR_HAS(n.icdf(tensor({0.5, 1.5, 0.2}, {3})), "Normal: p [3] must be in [0, 1] (found 1.5 at index 1)");
  CHECK_ERROR_HAS(n.cdf(arange(3)), "Normal: value must be a floating-point tensor");
  // switched off: no value checks (shape checks stay)
  dist::ValidateArgsGuard off(false);
  CHECK_NOTHROW(Normal(zeros({2, 3}), bad));
  CHECK_NOTHROW(n.icdf(tensor({0.5, 1.5, 0.2}, {3})));
  CHECK_ERROR_HAS(n.log_prob(zeros({5})), "cannot be broadcast together");
}
