#include <cmath>
#include <numbers>
#include <type_traits>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using namespace elbo::dist;

// The concepts follow the component family: samples always, moments when D has them, never rsample.
template <class D> constexpr bool kSamplableWithMoments =
    Distribution<MixtureSameFamily<D>> && Samplable<MixtureSameFamily<D>> && HasMoments<MixtureSameFamily<D>> &&
    !Reparameterized<MixtureSameFamily<D>> && !HasEntropy<MixtureSameFamily<D>>;
static_assert(kSamplableWithMoments<Normal>);
static_assert(kSamplableWithMoments<Independent<Normal>>);
static_assert(kSamplableWithMoments<Bernoulli>);
static_assert(kSamplableWithMoments<Independent<Bernoulli>>);
static_assert(kSamplableWithMoments<ContinuousBernoulli>);
static_assert(Samplable<MixtureSameFamily<Categorical>> && !HasMoments<MixtureSameFamily<Categorical>>);

namespace {
Tensor f64(std::vector<double> v, Shape s) { return tensor(std::move(v), std::move(s), DType::f64); }
}  // namespace

TEST_CASE("MixtureSameFamily: class template argument deduction, as the README spells it") {
  const Tensor logits = zeros({3}), loc = zeros({3, 2}), scale = ones({3, 2});
  dist::MixtureSameFamily mix(dist::Categorical(logits), dist::Independent(dist::Normal(loc, scale), 1));
  static_assert(std::is_same_v<decltype(mix), MixtureSameFamily<Independent<Normal>>>);
  CHECK(mix.batch_shape() == Shape{});
  CHECK(mix.event_shape() == Shape{2});
  CHECK(mix.mixture_distribution().num_events() == 3);
  CHECK(mix.component_distribution().batch_shape() == Shape{3});
}

TEST_CASE("MixtureSameFamily<Normal> matches torch: batch_shape [2], K = 3") {
  const MixtureSameFamily m(Categorical(fx(fx_::mix_logits)), Normal(fx(fx_::mix_loc), fx(fx_::mix_scale)));
  CHECK(m.batch_shape() == Shape{2});
  CHECK(m.event_shape() == Shape{});
  CHECK_TORCH(m.log_prob(fx(fx_::mix_value)), fx_::mix_log_prob);
  CHECK_TORCH(m.mean(), fx_::mix_mean);
  CHECK_TORCH(m.variance(), fx_::mix_variance);
}

TEST_CASE("The mixture-of-Gaussians prior matches torch: log_prob of z [S, B, L] is [S, B]") {
  const MixtureSameFamily prior(Categorical(fx(fx_::mog_logits)),
                                Independent(Normal(fx(fx_::mog_loc), fx(fx_::mog_scale)), 1));
  CHECK(prior.batch_shape() == Shape{});
  CHECK(prior.event_shape() == Shape{2});
  const Tensor z = fx(fx_::mog_z);
  CHECK(z.shape() == Shape{4, 5, 2});
  CHECK_TORCH(prior.log_prob(z), fx_::mog_log_prob);  // [4, 5]
  CHECK_TORCH(prior.mean(), fx_::mog_mean);
  CHECK_TORCH(prior.variance(), fx_::mog_variance);
  CHECK(prior.log_prob(narrow(narrow(z, 0, 0, 1), 1, 0, 1)).shape() == Shape{1, 1});
  CHECK(prior.log_prob(f64({0.1, -0.2}, {2})).shape() == Shape{});
}

TEST_CASE("MixtureSameFamily<Independent<Bernoulli>> matches torch: mixing weights [K] shared over batch [3]") {
  const MixtureSameFamily m(Categorical(fx(fx_::mixb_logits)), Independent(Bernoulli(fx(fx_::mixb_bern_logits)), 1));
  CHECK(m.batch_shape() == Shape{3});
  CHECK(m.event_shape() == Shape{4});
  CHECK_TORCH(m.log_prob(fx(fx_::mixb_x)), fx_::mixb_log_prob);  // [5, 3]
  CHECK_TORCH(m.mean(), fx_::mixb_mean);
  CHECK_TORCH(m.variance(), fx_::mixb_variance);
}

TEST_CASE("MixtureSameFamily closed forms: one component is that component; two Normals by hand") {
  const Tensor x = f64({0.2, 0.9, 0.5}, {3, 1});
  const Normal n(f64({0.3}, {1}), f64({1.5}, {1}));
  const MixtureSameFamily one(Categorical(zeros({1}, DType::f64)), n);
  CHECK(all_close(one.log_prob(squeeze(x, 1)), squeeze(n.log_prob(x), 1), 1e-14, 0));
  const ContinuousBernoulli cb(f64({-1.5}, {1}));
  const MixtureSameFamily one_cb(Categorical(zeros({1}, DType::f64)), cb);
  CHECK(all_close(one_cb.log_prob(squeeze(x, 1)), squeeze(cb.log_prob(x), 1), 1e-14, 0));
  CHECK(one_cb.batch_shape() == Shape{});
  CHECK(one_cb.mean().item() == doctest::Approx(cb.mean().item()).epsilon(1e-15));
  CHECK(one_cb.variance().item() == doctest::Approx(cb.variance().item()).epsilon(1e-15));
  // pi = (0.25, 0.75), N(-1, 0.5^2) and N(2, 1)
  const MixtureSameFamily two(Categorical::from_probs(f64({0.25, 0.75}, {2})),
                              Normal(f64({-1, 2}, {2}), f64({0.5, 1}, {2})));
  const auto pdf = [](double v, double m, double s) {
    return std::exp(-0.5 * (v - m) * (v - m) / (s * s)) / (s * std::sqrt(2 * std::numbers::pi));
  };
  const auto lp = two.log_prob(f64({0.2, -3}, {2, 1})).to_vector<double>();
  CHECK(lp[0] == doctest::Approx(std::log(0.25 * pdf(0.2, -1, 0.5) + 0.75 * pdf(0.2, 2, 1))).epsilon(1e-14));
  CHECK(lp[1] == doctest::Approx(std::log(0.25 * pdf(-3, -1, 0.5) + 0.75 * pdf(-3, 2, 1))).epsilon(1e-14));
  CHECK(two.mean().item() == doctest::Approx(0.25 * -1 + 0.75 * 2).epsilon(1e-15));
  CHECK(two.variance().item() == doctest::Approx(0.25 * 0.25 + 0.75 * 1 + 0.25 * 0.75 * 9).epsilon(1e-15));
}

TEST_CASE("MixtureSameFamily gradchecks: log_prob, mean, variance wrt mixing logits, component parameters, value") {
  Generator gen(23);
  auto u = [&](const Shape& s, double lo, double hi) { return uniform(s, gen, lo, hi); };
  CHECK(gradcheck([](auto& in) { return MixtureSameFamily(Categorical(in[0]), Normal(in[1], in[2])).log_prob(in[3]); },
                  {u({2, 3}, -1, 1), u({2, 3}, -2, 2), u({2, 3}, 0.5, 1.5), u({4, 2}, -2, 2)}));
  const auto mog = [](auto& in) { return MixtureSameFamily(Categorical(in[0]), Independent(Normal(in[1], in[2]), 1)); };
  CHECK(gradcheck([mog](auto& in) { return mog(in).log_prob(in[3]); },
                  {u({3}, -1, 1), u({3, 2}, -2, 2), u({3, 2}, 0.5, 1.5), u({2, 4, 2}, -2, 2)}));
  CHECK(gradcheck([mog](auto& in) { return mog(in).mean(); }, {u({3}, -1, 1), u({3, 2}, -2, 2), u({3, 2}, 0.5, 1.5)},
                  {.allow_unused = true}));  // the mean does not depend on the scales
  CHECK(gradcheck([mog](auto& in) { return mog(in).variance(); },
                  {u({3}, -1, 1), u({3, 2}, -2, 2), u({3, 2}, 0.5, 1.5)}));
  const Tensor x = lt(u({3, 2, 4}, 0, 1), full({}, 0.5, DType::f64)).to(DType::f64);  // binary, kept fixed
  CHECK(gradcheck(
      [x](auto& in) { return MixtureSameFamily(Categorical(in[0]), Independent(Bernoulli(in[1]), 1)).log_prob(x); },
      {u({2}, -1, 1), u({2, 2, 4}, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return MixtureSameFamily(Categorical(in[0]), Bernoulli(in[1])).variance(); },
                  {u({2, 3}, -1, 1), u({2, 3}, -2, 2)}));
}

TEST_CASE("MixtureSameFamily sample: shapes, no graph, the same component for every event dim of a draw") {
  Generator gen(4);
  Tensor logits = zeros({3}, DType::f64).requires_grad_();
  const Normal std_normal(zeros({3, 2}, DType::f64), ones({3, 2}, DType::f64));
  const MixtureSameFamily mog(Categorical(logits), Independent(std_normal, 1));
  CHECK(mog.sample(gen).shape() == Shape{2});
  const Tensor s = mog.sample(gen, {5, 7});
  CHECK(s.shape() == Shape{5, 7, 2});
  CHECK_FALSE(s.requires_grad());
  const MixtureSameFamily nb(Categorical(zeros({2, 3})), Normal(zeros({2, 3}), ones({2, 3})));
  CHECK(nb.sample(gen, {4}).shape() == Shape{4, 2});
  CHECK(nb.sample(gen, {4}).dtype() == DType::f32);
  const MixtureSameFamily bern(Categorical(zeros({2, 3})), Bernoulli(zeros({2, 3})));
  CHECK(bern.sample(gen, {4}).shape() == Shape{4, 2});
  const MixtureSameFamily cbm(Categorical(zeros({3})), ContinuousBernoulli(f64({-2, 0, 3}, {3})));
  CHECK(cbm.sample(gen, {4, 2}).shape() == Shape{4, 2});
  // mixing [K] broadcast over batch [3]: one component index per batch element and draw
  const MixtureSameFamily img(Categorical(zeros({2})), Independent(Bernoulli(zeros({3, 2, 4})), 1));
  CHECK(img.sample(gen, {6}).shape() == Shape{6, 3, 4});
  // two components that never overlap: a draw is all from one or all from the other
  const Normal far_apart(f64({-10, -10, -10, 10, 10, 10}, {2, 3}), full({2, 3}, 0.1, DType::f64));
  const MixtureSameFamily apart(Categorical(zeros({2}, DType::f64)), Independent(far_apart, 1));
  const std::vector<double> v = apart.sample(gen, {200}).to_vector<double>();
  int64_t mixed = 0;
  for (size_t i = 0; i < v.size(); i += 3) mixed += (v[i] > 0) != (v[i + 1] > 0) || (v[i] > 0) != (v[i + 2] > 0);
  CHECK(mixed == 0);
}

TEST_CASE("MixtureSameFamily sampling statistics: means, variances and a cross moment within 5 standard errors") {
  Generator gen(2026);
  const int64_t n = 40000;
  // MoG over [2] latents: E[z1 z2] = sum_k pi_k mu_k1 mu_k2 (each component has diagonal covariance)
  const Tensor pi = f64({0.2, 0.5, 0.3}, {3}), mu = f64({-2, 1, 0, 0.5, 3, -1}, {3, 2});
  const Normal comps(mu, f64({0.5, 1, 1.5, 0.3, 0.7, 2}, {3, 2}));
  const MixtureSameFamily mog(Categorical::from_probs(pi), Independent(comps, 1));
  const std::vector<double> z = mog.sample(gen, {n}).to_vector<double>();
  const std::vector<double> m = mog.mean().to_vector<double>(), var = mog.variance().to_vector<double>();
  for (size_t j = 0; j < 2; ++j) {
    const std::vector<double> c = column(z, 2, j);
    CHECK_WITHIN_5SE(mean_se(c), m[j]);
    std::vector<double> sq;
    for (double x : c) sq.push_back((x - m[j]) * (x - m[j]));
    CHECK_WITHIN_5SE(mean_se(sq), var[j]);
  }
  std::vector<double> prod;
  for (size_t i = 0; i < z.size(); i += 2) prod.push_back(z[i] * z[i + 1]);
  CHECK_WITHIN_5SE(mean_se(prod), 0.2 * -2 * 1 + 0.5 * 0 * 0.5 + 0.3 * 3 * -1);
  // Normal components over batch [2]
  const MixtureSameFamily nb(Categorical(f64({0, 1, -1, 0.5, 0, 0}, {2, 3})),
                             Normal(f64({-1, 0, 4, 2, -2, 0}, {2, 3}), f64({1, 0.5, 2, 0.3, 0.3, 1}, {2, 3})));
  const std::vector<double> s = nb.sample(gen, {n}).to_vector<double>();
  const std::vector<double> nm = nb.mean().to_vector<double>(), nv = nb.variance().to_vector<double>();
  for (size_t j = 0; j < 2; ++j) {
    const std::vector<double> c = column(s, 2, j);
    CHECK_WITHIN_5SE(mean_se(c), nm[j]);
    std::vector<double> sq;
    for (double x : c) sq.push_back((x - nm[j]) * (x - nm[j]));
    CHECK_WITHIN_5SE(mean_se(sq), nv[j]);
  }
  // Bernoulli images: pixel means, and the pixel-pair moment sum_k pi_k p_k1 p_k2 that needs one k per draw
  const Tensor bp = f64({0.9, 0.8, 0.1, 0.2, 0.1, 0.3, 0.7, 0.6}, {2, 4});
  const MixtureSameFamily img(Categorical::from_probs(f64({0.4, 0.6}, {2})), Independent(Bernoulli::from_probs(bp), 1));
  const std::vector<double> x = img.sample(gen, {n}).to_vector<double>(), xm = img.mean().to_vector<double>();
  for (size_t j = 0; j < 4; ++j) CHECK_WITHIN_5SE(mean_se(column(x, 4, j)), xm[j]);
  std::vector<double> pair;
  for (size_t i = 0; i < x.size(); i += 4) pair.push_back(x[i] * x[i + 1]);
  CHECK_WITHIN_5SE(mean_se(pair), 0.4 * 0.9 * 0.8 + 0.6 * 0.1 * 0.3);
}

TEST_CASE("MixtureSameFamily shape errors name both distributions' shapes") {
  CHECK_ERROR_HAS(MixtureSameFamily(Categorical(zeros({3})), Independent(Normal(zeros({4, 2}), ones({4, 2})), 1)),
                  "MixtureSameFamily: mixture_distribution has K = 3 components (logits [3]) but "
                  "component_distribution has batch_shape [4] (event_shape [2]); its last batch dim must be K");
  CHECK_ERROR_HAS(MixtureSameFamily(Categorical(zeros({2})), Independent(Normal(zeros({2}), ones({2})), 1)),
                  "component_distribution has batch_shape [] (event_shape [2]); its last batch dim must be K");
  CHECK_ERROR_HAS(MixtureSameFamily(Categorical(zeros({4, 3})), Normal(zeros({2, 3}), ones({2, 3}))),
                  "MixtureSameFamily: mixture_distribution batch_shape [4] does not broadcast to the mixture's "
                  "batch_shape [2] (component_distribution batch_shape [2, 3] without its last dim K = 3)");
  CHECK_ERROR_HAS(MixtureSameFamily(Categorical(zeros({5, 3})), Normal(zeros({3}), ones({3}))),
                  "mixture_distribution batch_shape [5] does not broadcast to the mixture's batch_shape []");
  CHECK_NOTHROW(MixtureSameFamily(Categorical(zeros({1, 3})), Normal(zeros({2, 3}), ones({2, 3}))));
  const MixtureSameFamily mog(Categorical(zeros({3})), Independent(Normal(zeros({3, 2}), ones({3, 2})), 1));
  CHECK_ERROR_HAS(mog.log_prob(zeros({4, 3})),
                  "MixtureSameFamily: value [4, 3] must end in the event_shape [2] (batch_shape [])");
  const MixtureSameFamily nb(Categorical(zeros({2, 3})), Normal(zeros({2, 3}), ones({2, 3})));
  CHECK_ERROR_HAS(nb.log_prob(zeros({4, 5})),
                  "MixtureSameFamily: value [4, 5] and batch_shape ++ event_shape [2] cannot be broadcast together");
  // the component's own value checks still run, on the value unsqueezed at the component dim
  CHECK_ERROR_HAS(nb.log_prob(tensor({0, NAN}, {2})), "Normal: value [2, 1] must not be NaN");
}
