// MultivariateNormal and LowRankMultivariateNormal against torch.distributions (1e-10, f64), sampling
// statistics, gradchecks, KL against Monte Carlo, and validation errors.
#include <cmath>

#include "fixtures/mvn_fixtures.h"
#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
using dist::LowRankMultivariateNormal;
using dist::MultivariateNormal;

namespace {
namespace mf = elbo::mvn_fixtures;
Tensor mx(const mf::Array& a) { return tensor(a.values, a.shape, DType::f64); }
bool matches(const Tensor& t, const mf::Array& ref) {
  return t.shape() == Shape(ref.shape) && all_close(t, mx(ref), 1e-10, 1e-10);
}
}  // namespace

TEST_CASE("MultivariateNormal matches torch: log_prob, entropy, variance, covariance, KL, gradients") {
  const MultivariateNormal p(mx(mf::loc_p), mx(mf::tril_p));  // one scale_tril shared by the batch
  const MultivariateNormal q(mx(mf::loc_q), mx(mf::tril_q));
  CHECK(p.batch_shape() == Shape{2});
  CHECK(p.event_shape() == Shape{3});
  const Tensor x = mx(mf::x);
  CHECK(matches(p.log_prob(x), mf::p_log_prob));
  CHECK(matches(p.entropy(), mf::p_entropy));
  CHECK(matches(p.variance(), mf::p_variance));
  CHECK(matches(p.covariance_matrix(), mf::p_covariance));
  CHECK(matches(dist::kl_divergence(p, q), mf::kl_full_full));
  CHECK(matches(MultivariateNormal::from_covariance(mx(mf::loc_q), mx(mf::cov_q)).log_prob(x), mf::cov_q_log_prob));
  const Tensor loc = mx(mf::loc_q).requires_grad_(), tril = mx(mf::tril_q).requires_grad_();
  const MultivariateNormal qq(loc, tril);
  (sum(qq.log_prob(x)) + sum(dist::kl_divergence(qq, p))).backward();
  CHECK(matches(loc.grad(), mf::q_grad_loc));
  CHECK(matches(tril.grad(), mf::q_grad_tril));
}

TEST_CASE("LowRankMultivariateNormal matches torch; its KLs to full and low-rank go through the dense form") {
  const LowRankMultivariateNormal r(mx(mf::loc_q), mx(mf::lr_W), mx(mf::lr_d));
  const LowRankMultivariateNormal r2(mx(mf::loc_p), mx(mf::lr_W2), mx(mf::lr_d2));
  const MultivariateNormal p(mx(mf::loc_p), mx(mf::tril_p));
  const Tensor x = mx(mf::x);
  CHECK(r.batch_shape() == Shape{2});
  CHECK(matches(r.log_prob(x), mf::lr_log_prob));
  CHECK(matches(r.entropy(), mf::lr_entropy));
  CHECK(matches(r.variance(), mf::lr_variance));
  CHECK(matches(r.covariance_matrix(), mf::lr_covariance));
  CHECK(matches(dist::kl_divergence(r, r2), mf::kl_lr_lr));
  CHECK(matches(dist::kl_divergence(r, p), mf::kl_lr_full));
  CHECK(matches(dist::kl_divergence(p, r), mf::kl_full_lr));
  // the Woodbury log_prob equals the dense one
  CHECK(all_close(r.log_prob(x), dist::to_multivariate(r).log_prob(x), 1e-12, 1e-12));
  const Tensor w = mx(mf::lr_W).requires_grad_(), d = mx(mf::lr_d).requires_grad_();
  sum(LowRankMultivariateNormal(mx(mf::loc_q), w, d).log_prob(x)).backward();
  CHECK(matches(w.grad(), mf::lr_grad_W));
  CHECK(matches(d.grad(), mf::lr_grad_d));
}

TEST_CASE("KL between a full-covariance and a diagonal Normal matches torch, both ways, also through AnyDistribution") {
  const MultivariateNormal p(mx(mf::loc_p), mx(mf::tril_p));
  const dist::Independent<dist::Normal> diag(dist::Normal(mx(mf::loc_q), mx(mf::diag_scale)), 1);
  CHECK(matches(dist::kl_divergence(p, diag), mf::kl_full_diag));
  CHECK(matches(dist::kl_divergence(diag, p), mf::kl_diag_full));
  const dist::AnyDistribution ap(p), ad(diag);
  CHECK(dist::has_kl(ap, ad));
  CHECK(matches(dist::kl_divergence(ad, ap), mf::kl_diag_full));
  // a full covariance that happens to be diagonal has the diagonal Normal's log_prob
  const Tensor x = mx(mf::x);
  CHECK(all_close(dist::to_multivariate(diag).log_prob(x), diag.log_prob(x), 1e-12, 1e-12));
}

TEST_CASE("KLs to a diagonal Normal without a solve: the dense route's values, gradchecks, broadcast batches") {
  Generator gen(21);
  const dist::Independent<dist::Normal> diag(dist::Normal(mx(mf::loc_q), mx(mf::diag_scale)), 1);
  const MultivariateNormal p(mx(mf::loc_p), mx(mf::tril_p));
  const LowRankMultivariateNormal r(mx(mf::loc_q), mx(mf::lr_W), mx(mf::lr_d));
  CHECK(all_close(dist::kl_divergence(p, diag), dist::kl_divergence(p, dist::to_multivariate(diag)), 1e-12, 1e-12));
  CHECK(all_close(dist::kl_divergence(r, diag),
                  dist::kl_divergence(dist::to_multivariate(r), dist::to_multivariate(diag)), 1e-12, 1e-12));
  // q with no batch against p's [2]: the VAE's KL to N(0, I)
  const dist::Independent<dist::Normal> prior(dist::Normal(zeros({3}, DType::f64), ones({3}, DType::f64)), 1);
  CHECK(dist::kl_divergence(r, prior).shape() == Shape{2});
  CHECK(all_close(dist::kl_divergence(r, prior),
                  dist::kl_divergence(dist::to_multivariate(r), dist::to_multivariate(prior)), 1e-12, 1e-12));
  auto tril_of = [](const Tensor& raw) { return tril(raw, -1) + diag_embed(exp(diagonal(raw))); };
  CHECK(gradcheck([&](auto& in) {
    return dist::kl_divergence(MultivariateNormal(in[0], tril_of(in[1])),
                               dist::Independent<dist::Normal>(dist::Normal(in[2], exp(in[3])), 1));
  }, {uniform({2, 3}, gen, -1, 1), uniform({2, 3, 3}, gen, -0.5, 0.5), uniform({3}, gen, -1, 1), uniform({3}, gen, -0.5, 0.5)}));
  CHECK(gradcheck([&](auto& in) {
    return dist::kl_divergence(LowRankMultivariateNormal(in[0], in[1], exp(in[2])),
                               dist::Independent<dist::Normal>(dist::Normal(in[3], exp(in[4])), 1));
  }, {uniform({2, 3}, gen, -1, 1), uniform({2, 3, 2}, gen, -1, 1), uniform({2, 3}, gen, -0.5, 0.5),
      uniform({2, 3}, gen, -1, 1), uniform({2, 3}, gen, -0.5, 0.5)}));
  // an event-size mismatch names both
  const dist::Independent<dist::Normal> four(dist::Normal(zeros({4}, DType::f64), ones({4}, DType::f64)), 1);
  CHECK_THROWS_WITH_AS(dist::kl_divergence(p, four), doctest::Contains("MultivariateNormal event_shape [3]"), ShapeError);
}

TEST_CASE("MultivariateNormal and LowRank sampling: shapes, mean and covariance within 5 standard errors") {
  const Tensor loc = tensor({1, -2}, {2}, DType::f64);
  const Tensor l = tensor({1.5, 0, -0.8, 0.6}, {2, 2}, DType::f64);  // covariance [[2.25, -1.2], [-1.2, 1]]
  const MultivariateNormal p(loc, l);
  const LowRankMultivariateNormal r(loc, tensor({1.2, -0.9}, {2, 1}, DType::f64), tensor({0.81, 0.19}, {2}, DType::f64));
  for (int which = 0; which < 2; ++which) {
    Generator gen(11);
    const int64_t n = 40000;
    const Tensor z = which == 0 ? p.sample(gen, {n}) : r.sample(gen, {n});
    REQUIRE(z.shape() == Shape{n, 2});
    const std::vector<double> v = z.to_vector<double>();
    const std::vector<double> z0 = column(v, 2, 0), z1 = column(v, 2, 1);
    const MeanSe m0 = mean_se(z0), m1 = mean_se(z1);
    CHECK(std::abs(m0.mean - 1) < 5 * m0.se);
    CHECK(std::abs(m1.mean + 2) < 5 * m1.se);
    std::vector<double> c01(z0.size()), c00(z0.size());
    for (size_t i = 0; i < z0.size(); ++i) c01[i] = (z0[i] - 1) * (z1[i] + 2), c00[i] = (z0[i] - 1) * (z0[i] - 1);
    const MeanSe cov01 = mean_se(c01), var0 = mean_se(c00);
    CHECK(std::abs(cov01.mean + 1.2 * (which == 0 ? 1 : 0.9)) < 5 * cov01.se);  // low rank: 1.2 * -0.9 = -1.08
    CHECK(std::abs(var0.mean - 2.25) < 5 * var0.se);                            // 1.44 + 0.81 = 2.25 too
  }
}

TEST_CASE("MultivariateNormal gradchecks: rsample pathwise, log_prob, entropy, KL wrt every parameter") {
  Generator gen(5);
  auto tril_of = [](const Tensor& raw) { return tril(raw, -1) + diag_embed(exp(diagonal(raw))); };
  const Tensor x = uniform({2, 3}, gen, -1, 1);
  CHECK(gradcheck([&](auto& in) { return MultivariateNormal(in[0], tril_of(in[1])).log_prob(x); },
                  {uniform({2, 3}, gen, -1, 1), uniform({3, 3}, gen, -0.5, 0.5)}));
  CHECK(gradcheck([&](auto& in) { return MultivariateNormal(in[0], tril_of(in[1])).entropy(); },
                  {uniform({3}, gen, -1, 1), uniform({2, 3, 3}, gen, -0.5, 0.5)}, {.allow_unused = true}));
  CHECK(gradcheck([&](auto& in) {
    Generator g(9);
    return MultivariateNormal(in[0], tril_of(in[1])).rsample(g, {4});
  }, {uniform({3}, gen, -1, 1), uniform({3, 3}, gen, -0.5, 0.5)}));
  CHECK(gradcheck([&](auto& in) {
    return dist::kl_divergence(MultivariateNormal(in[0], tril_of(in[1])), MultivariateNormal(in[2], tril_of(in[3])));
  }, {uniform({3}, gen, -1, 1), uniform({3, 3}, gen, -0.5, 0.5), uniform({3}, gen, -1, 1), uniform({3, 3}, gen, -0.5, 0.5)}));
  CHECK(gradcheck([&](auto& in) { return LowRankMultivariateNormal(in[0], in[1], exp(in[2])).log_prob(x); },
                  {uniform({3}, gen, -1, 1), uniform({3, 2}, gen, -1, 1), uniform({3}, gen, -0.5, 0.5)}));
}

TEST_CASE("KL(full || full) agrees with its Monte Carlo estimate") {
  const MultivariateNormal p(mx(mf::loc_p), mx(mf::tril_p)), q(mx(mf::loc_q), mx(mf::tril_q));
  Generator gen(3);
  const int64_t n = 40000;
  const Tensor z = p.sample(gen, {n});
  const Tensor d = p.log_prob(z) - q.log_prob(z);  // [n, 2]
  const std::vector<double> v = d.to_vector<double>(), kl = dist::kl_divergence(p, q).to_vector<double>();
  for (size_t j = 0; j < 2; ++j) {
    const MeanSe m = mean_se(column(v, 2, j));
    CHECK(std::abs(m.mean - kl[j]) < 5 * m.se);
  }
}

TEST_CASE("MultivariateNormal validation errors name the parameter, the shape and the constraint") {
  const Tensor loc = zeros({2}, DType::f64);
  CHECK_ERROR_HAS(MultivariateNormal(loc, ones({3, 3}, DType::f64)), "MultivariateNormal: scale_tril must be [..., 2, 2] for loc [2], got shape [3, 3]");
  CHECK_ERROR_HAS(MultivariateNormal(loc, tensor({1, 0.5, 0, 1}, {2, 2}, DType::f64)), "must be lower triangular");
  CHECK_ERROR_HAS(MultivariateNormal(loc, tensor({1, 0, 0.5, -1}, {2, 2}, DType::f64)), "the diagonal of scale_tril");
  CHECK_ERROR_HAS(MultivariateNormal::from_covariance(loc, tensor({1, 2, 2, 1}, {2, 2}, DType::f64)),
                  "cholesky: matrix 0 of the batch (shape [2, 2]) is not positive definite");
  CHECK_ERROR_HAS(MultivariateNormal(loc, diag_embed(ones({2}, DType::f64))).log_prob(ones({3}, DType::f64)), "MultivariateNormal");
  CHECK_ERROR_HAS(LowRankMultivariateNormal(loc, ones({2, 1}, DType::f64), -ones({2}, DType::f64)), "cov_diag");
  CHECK_ERROR_HAS(LowRankMultivariateNormal(loc, ones({3, 1}, DType::f64), ones({2}, DType::f64)),
                  "LowRankMultivariateNormal: cov_factor must be [..., 2, R] for loc [2], got shape [3, 1]");
  CHECK_ERROR_HAS(dist::to_multivariate(dist::Independent<dist::Normal>(dist::Normal(ones({2, 2}), ones({2, 2})), 2)),
                  "to_multivariate: the Independent Normal must have one event dim");
}
