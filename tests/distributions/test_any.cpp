#include <distributions/any.h>
#include <distributions/mixture.h>
#include <distributions/multivariate_normal.h>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
using dist::AnyDistribution;

namespace {
// A user's family with nothing but the three required methods.
struct Flat {
  Tensor width;  // density 1/width on [0, width)
  const Shape& batch_shape() const { return width.shape(); }
  Shape event_shape() const { return {}; }
  Tensor log_prob(const Tensor& x) const { return zeros_like(x) - log(width); }
};
// KL(Flat(a) || Flat(b)) = log(b / a) for a <= b
Tensor kl_divergence(const Flat& p, const Flat& q) { return log(q.width / p.width); }
}  // namespace

TEST_CASE("AnyDistribution forwards to the family it wraps; copies share it") {
  Generator gen(1);
  const Tensor loc = tensor({0.5, -1}, {2}, DType::f64), scale = tensor({1, 2}, {2}, DType::f64);
  const AnyDistribution d = dist::Independent(dist::Normal(loc, scale), 1);
  CHECK(d.defined());
  CHECK(d.name() == "Independent<Normal>");
  CHECK(d.batch_shape() == Shape{});
  CHECK(d.event_shape() == Shape{2});
  CHECK(d.has_rsample());
  CHECK(d.has_entropy());
  CHECK(d.has_moments());
  const dist::Independent<dist::Normal> typed(dist::Normal(loc, scale), 1);
  const Tensor x = tensor({0.1, 0.2, 0.3, 0.4}, {2, 2}, DType::f64);
  CHECK(all_close(d.log_prob(x), typed.log_prob(x), 0, 0));
  CHECK(all_close(d.entropy(), typed.entropy(), 0, 0));
  CHECK(all_close(d.mean(), loc, 0, 0));
  CHECK(all_close(d.variance(), square(scale), 0, 0));
  Generator g1(3), g2(3);
  CHECK(all_close(d.rsample(g1, {4}), typed.rsample(g2, {4}), 0, 0));
  CHECK(d.sample(gen, {5}).shape() == Shape{5, 2});
  REQUIRE(d.target<dist::Independent<dist::Normal>>() != nullptr);
  CHECK(d.target<dist::Normal>() == nullptr);
  const AnyDistribution copy = d;
  CHECK(copy.target<dist::Independent<dist::Normal>>() == d.target<dist::Independent<dist::Normal>>());
  CHECK(d.base_dist().name() == "Normal");
  CHECK(d.reinterpreted_batch_ndims() == 1);
  CHECK_FALSE(d.base_dist().base_dist().defined());
}

TEST_CASE("AnyDistribution: what a family lacks is an error naming it; an undefined one names the method") {
  Generator gen(2);
  const AnyDistribution b = dist::Bernoulli(zeros({3}));
  CHECK_FALSE(b.has_rsample());
  CHECK_ERROR_HAS(b.rsample(gen), "Bernoulli has no rsample (it is not reparameterized)");
  const AnyDistribution c = dist::Categorical(zeros({2, 3}));
  CHECK_FALSE(c.has_moments());
  CHECK_ERROR_HAS(c.mean(), "Categorical has no mean");
  const AnyDistribution f = Flat{ones({2})};
  CHECK(f.name() == "(anonymous namespace)::Flat");
  CHECK_ERROR_HAS(f.sample(gen), "(anonymous namespace)::Flat has no sample");
  CHECK_ERROR_HAS(f.entropy(), "Flat has no entropy");
  const AnyDistribution none;
  CHECK_FALSE(none.defined());
  CHECK(none.name() == "undefined");
  CHECK_ERROR_HAS(none.log_prob(zeros({1})), "AnyDistribution::log_prob: the distribution is undefined");
}

TEST_CASE("kl_divergence of erased distributions: every registered pair, an error for the rest, user pairs") {
  Generator gen(3);
  const Tensor pl = uniform({2, 3}, gen, -1, 1, DType::f64), ql = uniform({2, 3}, gen, -1, 1, DType::f64);
  const Tensor ps = uniform({2, 3}, gen, 0.5, 2, DType::f64), qs = uniform({2, 3}, gen, 0.5, 2, DType::f64);
  const dist::Normal pn(pl, ps), qn(ql, qs);
  CHECK(all_close(dist::kl_divergence(AnyDistribution(pn), AnyDistribution(qn)), dist::kl_divergence(pn, qn), 0, 0));
  const dist::Independent pi(pn, 1), qi(qn, 1);
  CHECK(dist::has_kl(pi, qi));
  CHECK(all_close(dist::kl_divergence(AnyDistribution(pi), AnyDistribution(qi)), dist::kl_divergence(pi, qi), 0, 0));
  const dist::Bernoulli pb(pl), qb(ql);
  CHECK(all_close(dist::kl_divergence(AnyDistribution(pb), AnyDistribution(qb)), dist::kl_divergence(pb, qb), 0, 0));
  const dist::ContinuousBernoulli pc(pl), qc(ql);
  CHECK(all_close(dist::kl_divergence(AnyDistribution(dist::Independent(pc, 2)), AnyDistribution(dist::Independent(qc, 2))),
                  dist::kl_divergence(dist::Independent(pc, 2), dist::Independent(qc, 2)), 0, 0));
  const dist::Categorical pk(pl), qk(ql);
  CHECK(all_close(dist::kl_divergence(AnyDistribution(pk), AnyDistribution(qk)), dist::kl_divergence(pk, qk), 0, 0));
  // unregistered: a mixture prior, a pair across families
  const dist::MixtureSameFamily mix(dist::Categorical(zeros({2}, DType::f64)), dist::Independent(dist::Normal(pl, ps), 1));
  CHECK_FALSE(dist::has_kl(pi, mix));
  CHECK_ERROR_HAS(dist::kl_divergence(AnyDistribution(pi), AnyDistribution(mix)),
                  "kl_divergence: no closed form registered for KL(Independent<Normal> || "
                  "MixtureSameFamily<Independent<Normal> >); use kl_divergence_mc");
  CHECK_FALSE(dist::has_kl(pn, pb));
  CHECK_ERROR_HAS(dist::kl_divergence(AnyDistribution(), AnyDistribution(pn)), "kl_divergence: p distribution is undefined");
  // a user's pair joins the table
  const AnyDistribution a = Flat{full({2}, 1.0, DType::f64)}, b = Flat{full({2}, 4.0, DType::f64)};
  CHECK_FALSE(dist::has_kl(a, b));
  dist::register_kl<Flat, Flat>();
  CHECK(dist::has_kl(a, b));
  CHECK(dist::kl_divergence(a, b).to_vector<double>() == std::vector<double>{std::log(4.0), std::log(4.0)});
}

namespace {
// One example of each family in kl.h's list, batch [2] (event [3] for the Gaussians with covariance and
// the categoricals): `which` picks one of two parameter sets, so p and q differ.
template <class D> D example(int which);
Tensor param(int which, Shape s, double lo = -1, double hi = 1) {
  Generator gen(uint64_t(40 + which));
  return uniform(std::move(s), gen, lo, hi, DType::f64);
}
Tensor scale_tril(int which) {  // a lower-triangular scale with a positive diagonal, [2, 3, 3]
  return tril(param(which, {2, 3, 3}, -0.3, 0.3)) + diag_embed(full({3}, 1.0 + 0.5 * which, DType::f64));
}
template <> dist::Normal example(int w) { return {param(w, {2}), param(w, {2}, 0.5, 2)}; }
template <> dist::Bernoulli example(int w) { return dist::Bernoulli(param(w, {2})); }
template <> dist::Categorical example(int w) { return dist::Categorical(param(w, {2, 3})); }
template <> dist::OneHotCategorical example(int w) { return dist::OneHotCategorical(param(w, {2, 3})); }
template <> dist::ContinuousBernoulli example(int w) { return dist::ContinuousBernoulli(param(w, {2})); }
template <> dist::MultivariateNormal example(int w) { return {param(w, {2, 3}), scale_tril(w)}; }
template <> dist::LowRankMultivariateNormal example(int w) {
  return {param(w, {2, 3}), param(w, {2, 3, 2}), param(w, {2, 3}, 0.5, 2)};
}
template <> dist::Independent<dist::Normal> example(int w) {
  return dist::Independent(dist::Normal(param(w, {2, 3}), param(w, {2, 3}, 0.5, 2)), 1);
}
template <class D> dist::Independent<D> independent(int w) { return dist::Independent(example<D>(w), 1); }
}  // namespace

TEST_CASE("kl.h's one list of pairs: every closed-form pair is found at run time and agrees with its overload") {
  using namespace elbo::dist;  // the list names the families unqualified
  int pairs = 0;
  auto check = [&](const auto& p, const auto& q) {
    INFO(AnyDistribution(p).name(), " || ", AnyDistribution(q).name());
    CHECK(dist::has_kl(p, q));
    const Tensor want = dist::kl_divergence(p, q);
    CHECK(all_close(dist::kl_divergence(AnyDistribution(p), AnyDistribution(q)), want, 0, 0));
    CHECK(want.shape() == AnyDistribution(p).batch_shape());
    ++pairs;
  };
#define CHECK_PAIR(P, Q) check(example<P>(0), example<Q>(1));
#define CHECK_PAIR_INDEPENDENT(P, Q) CHECK_PAIR(P, Q) check(independent<P>(0), independent<Q>(1));
  ELBO_KL_ELEMENTWISE(CHECK_PAIR_INDEPENDENT)
  ELBO_KL_EVENT(CHECK_PAIR)
#undef CHECK_PAIR
#undef CHECK_PAIR_INDEPENDENT
  CHECK(pairs == 18);
}

TEST_CASE("AnyDistribution works with the generic code: Independent and kl_divergence_mc") {
  Generator gen(4);
  const AnyDistribution n = dist::Normal(zeros({3}, DType::f64), ones({3}, DType::f64));
  const dist::Independent<AnyDistribution> ind(n, 1);
  CHECK(ind.event_shape() == Shape{3});
  const AnyDistribution m = dist::Normal(full({3}, 0.5, DType::f64), ones({3}, DType::f64));
  const double mc = mean(dist::kl_divergence_mc(n, m, gen, 20000)).item();
  CHECK(mc == doctest::Approx(0.125).epsilon(0.05));  // (0.5)^2 / 2 per dim
}
