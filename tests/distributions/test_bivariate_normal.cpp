// BivariateNormal against torch's MultivariateNormal with the equivalent scale_tril, and the mixture of
// them (SketchRNN's offset density) against torch's MixtureSameFamily (1e-10, f64); sampling moments;
// gradchecks; validation.
#include <cmath>

#include "fixtures/bivariate_fixtures.h"
#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
using dist::BivariateNormal;

namespace {
namespace bf = ::bivariate_fixtures;
Tensor bx(const bf::Array& a) { return tensor(a.values, a.shape, DType::f64); }
bool matches(const Tensor& t, const bf::Array& ref) {
  return t.shape() == Shape(ref.shape) && all_close(t, bx(ref), 1e-10, 1e-10);
}
}  // namespace

TEST_CASE("BivariateNormal matches torch's MultivariateNormal: log_prob, entropy, gradients") {
  const Tensor loc = bx(bf::loc).requires_grad_(), scale = bx(bf::scale).requires_grad_();
  const Tensor corr = bx(bf::corr).requires_grad_();
  const BivariateNormal d(loc, scale, corr);
  CHECK(d.batch_shape() == Shape{3, 4});
  CHECK(d.event_shape() == Shape{2});
  const Tensor lp = d.log_prob(bx(bf::x));
  CHECK(matches(lp, bf::log_prob));
  CHECK(matches(d.entropy(), bf::entropy));
  CHECK(all_close(d.to_multivariate().log_prob(bx(bf::x)), lp, 1e-12, 1e-12));
  sum(lp).backward();
  CHECK(matches(loc.grad(), bf::grad_loc));
  CHECK(matches(scale.grad(), bf::grad_scale));
  CHECK(matches(corr.grad(), bf::grad_corr));
}

TEST_CASE("MixtureSameFamily of BivariateNormals matches torch: log_prob, mean, variance, gradients") {
  const Tensor logits = bx(bf::mix_logits).requires_grad_(), loc = bx(bf::loc).requires_grad_();
  const Tensor scale = bx(bf::scale).requires_grad_(), corr = bx(bf::corr).requires_grad_();
  const dist::MixtureSameFamily<BivariateNormal> mix(dist::Categorical(logits),
                                                     BivariateNormal(loc, scale, corr));
  CHECK(mix.batch_shape() == Shape{3});
  const Tensor lp = mix.log_prob(bx(bf::mix_x));
  CHECK(matches(lp, bf::mix_log_prob));
  CHECK(matches(mix.mean(), bf::mix_mean));
  CHECK(matches(mix.variance(), bf::mix_variance));
  sum(lp).backward();
  CHECK(matches(logits.grad(), bf::mix_grad_logits));
  CHECK(matches(loc.grad(), bf::mix_grad_loc));
  CHECK(matches(scale.grad(), bf::mix_grad_scale));
  CHECK(matches(corr.grad(), bf::mix_grad_corr));
  Generator gen(4);
  CHECK(mix.sample(gen, {7}).shape() == Shape{7, 3, 2});
}

TEST_CASE("BivariateNormal: draws have the stated means, scales and correlation; rsample is pathwise") {
  Generator gen(11);
  const BivariateNormal d(tensor({1.0, -2.0}, {2}, DType::f64), tensor({0.5, 2.0}, {2}, DType::f64),
                          scalar_tensor(-0.7, DType::f64));
  const int64_t n = 200000;
  const Tensor x = d.sample(gen, {n});
  REQUIRE(x.shape() == Shape{n, 2});
  const Tensor m = mean(x, {0});
  const Tensor c = x - m;
  const auto v = mean(c * c, {0}).to_vector<double>();
  const double cov = mean(select(c, 1, 0) * select(c, 1, 1)).item();
  CHECK(m.to_vector<double>()[0] == doctest::Approx(1.0).epsilon(0.01));
  CHECK(m.to_vector<double>()[1] == doctest::Approx(-2.0).epsilon(0.01));
  CHECK(std::sqrt(v[0]) == doctest::Approx(0.5).epsilon(0.01));
  CHECK(std::sqrt(v[1]) == doctest::Approx(2.0).epsilon(0.01));
  CHECK(cov / std::sqrt(v[0] * v[1]) == doctest::Approx(-0.7).epsilon(0.01));
  // the entropy is the mean negative log density of its own draws
  CHECK(-mean(d.log_prob(x)).item() == doctest::Approx(d.entropy().item()).epsilon(0.01));
  Generator g2(2);
  CHECK(gradcheck(
      [&](std::vector<Tensor>& in) {
        Generator g(5);
        const BivariateNormal b(in[0], in[1], in[2]);
        return sum(square(b.rsample(g, {3}))) + sum(b.log_prob(in[3]));
      },
      {uniform({2, 2}, g2, -1, 1), uniform({2, 2}, g2, 0.5, 1.5), uniform({2}, g2, -0.8, 0.8),
       uniform({4, 2, 2}, g2, -1, 1)}));
}

TEST_CASE("BivariateNormal: shape and value errors") {
  const Tensor l = zeros({3, 2}, DType::f64), s = ones({3, 2}, DType::f64), c = zeros({3}, DType::f64);
  CHECK_ERROR_HAS(BivariateNormal(zeros({3, 3}, DType::f64), s, c), "BivariateNormal: loc [3, 3] and scale [3, 2]");
  CHECK_ERROR_HAS(BivariateNormal(l, s, zeros({3, 1}, DType::f64)), "corr [3, 1] that shape without the 2");
  CHECK_ERROR_HAS(BivariateNormal(l, -s, c), "scale");
  CHECK_ERROR_HAS(BivariateNormal(l, s, c + 1.0), "corr [3] must be in (-1, 1) (found 0 values outside, NaN included, and 3 of magnitude 1)");
  CHECK_ERROR_HAS(BivariateNormal(l, s, c + 2.0), "found 3 values outside");
  CHECK_ERROR_HAS(BivariateNormal(l, s, c).log_prob(zeros({3, 3}, DType::f64)), "BivariateNormal");
}
