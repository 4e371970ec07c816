#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using namespace elbo::dist;

// Capabilities follow the base type at compile time: no run-time has_rsample.
static_assert(Reparameterized<Independent<Normal>>);
static_assert(!Reparameterized<Independent<Bernoulli>>);
static_assert(!Reparameterized<Independent<Categorical>>);
static_assert(Reparameterized<Independent<RelaxedBernoulli>>);
static_assert(HasEntropy<Independent<Bernoulli>>);
static_assert(!HasEntropy<Independent<RelaxedBernoulli>>);
static_assert(HasMoments<Independent<Normal>>);
static_assert(!HasMoments<Independent<Categorical>>);
static_assert(Samplable<Independent<Independent<Normal>>>);

TEST_CASE("Independent<Normal> matches torch: log_prob and entropy sum the reinterpreted dim") {
  const Independent<Normal> d(Normal(fx(fx_::ind_loc), fx(fx_::ind_scale)), 1);
  CHECK(d.batch_shape() == Shape{2});
  CHECK(d.event_shape() == Shape{3});
  CHECK_TORCH(d.log_prob(fx(fx_::ind_value)), fx_::ind_log_prob);
  CHECK_TORCH(d.entropy(), fx_::ind_entropy);
}

TEST_CASE("Independent shapes, n = 0 and nesting, samples as the base") {
  const Normal base(zeros({4, 2, 3}, DType::f64), ones({4, 2, 3}, DType::f64));
  const Tensor x = full({4, 2, 3}, 0.5, DType::f64);
  const Independent i0(base, 0);
  CHECK(i0.batch_shape() == Shape{4, 2, 3});
  CHECK(i0.event_shape() == Shape{});
  CHECK(all_close(i0.log_prob(x), base.log_prob(x), 0, 0));
  const Independent i2(base, 2);
  CHECK(i2.batch_shape() == Shape{4});
  CHECK(i2.event_shape() == Shape{2, 3});
  CHECK(all_close(i2.log_prob(x), sum(base.log_prob(x), {1, 2}), 1e-14, 0));
  CHECK(all_close(i2.entropy(), sum(base.entropy(), {1, 2}), 1e-14, 0));
  const Independent<Independent<Normal>> nested(Independent<Normal>(base, 1), 1);
  CHECK(nested.event_shape() == Shape{2, 3});
  CHECK(all_close(nested.log_prob(x), i2.log_prob(x), 1e-14, 0));
  Generator a(3), b(3);
  CHECK(all_close(i2.rsample(a, {5}), base.rsample(b, {5}), 0, 0));
  CHECK(i2.sample(a, {5}).shape() == Shape{5, 4, 2, 3});
  CHECK(all_close(i2.mean(), base.mean(), 0, 0));
  CHECK(all_close(i2.variance(), base.variance(), 0, 0));
  // over a discrete base: a [B, D] image as one event of D pixels
  const Independent<Bernoulli> pix(Bernoulli(zeros({2, 5}, DType::f64)), 1);
  CHECK(pix.log_prob(full({2, 5}, 1, DType::f64)).to_vector<double>()[0] == doctest::Approx(5 * std::log(0.5)));
}

TEST_CASE("Independent gradchecks: log_prob and entropy wrt the base parameters") {
  Generator gen(13);
  const Tensor loc = uniform({2, 3}, gen, -1, 1), scale = uniform({2, 3}, gen, 0.5, 2), x = uniform({2, 3}, gen, -1, 1);
  CHECK(gradcheck([](auto& in) { return Independent(Normal(in[0], in[1]), 1).log_prob(in[2]); }, {loc, scale, x}));
  CHECK(gradcheck([](auto& in) { return Independent(Normal(in[0], in[1]), 2).entropy(); }, {loc, scale},
                  {.allow_unused = true}));  // the entropy does not depend on loc
  CHECK(gradcheck([](auto& in) { return Independent(Bernoulli(in[0]), 1).entropy(); }, {loc}));
}

TEST_CASE("Independent validation") {
  const Normal base(zeros({2, 3}), ones({2, 3}));
  CHECK_ERROR_HAS(Independent(base, 3),
                  "Independent: reinterpreted_batch_ndims 3 must be in [0, 2], the number of batch dims of the base "
                  "distribution (batch_shape [2, 3], event_shape [])");
  CHECK_ERROR_HAS(Independent(base, -1), "Independent: reinterpreted_batch_ndims -1 must be in [0, 2]");
  CHECK_ERROR_HAS(Independent(base, 1).log_prob(zeros({4})), "Normal: value [4] and batch_shape");
}
