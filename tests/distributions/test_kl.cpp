#include <cmath>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using namespace elbo::dist;

// The registry is closed at compile time: an unregistered pair has no usable overload.
static_assert(HasKL<Normal, Normal>);
static_assert(HasKL<Bernoulli, Bernoulli>);
static_assert(HasKL<Categorical, Categorical>);
static_assert(HasKL<OneHotCategorical, OneHotCategorical>);
static_assert(HasKL<ContinuousBernoulli, ContinuousBernoulli>);
static_assert(HasKL<Independent<ContinuousBernoulli>, Independent<ContinuousBernoulli>>);
static_assert(!HasKL<ContinuousBernoulli, Bernoulli>);
static_assert(HasKL<Independent<Normal>, Independent<Normal>>);
static_assert(HasKL<Independent<Independent<Bernoulli>>, Independent<Independent<Bernoulli>>>);
static_assert(!HasKL<Normal, Bernoulli>);
static_assert(!HasKL<Categorical, OneHotCategorical>);
static_assert(!HasKL<Independent<Normal>, Normal>);
static_assert(!HasKL<Independent<Normal>, Independent<Bernoulli>>);
static_assert(!HasKL<RelaxedBernoulli, RelaxedBernoulli>);

TEST_CASE("kl_divergence matches torch for every registered pair") {
  const Normal np(fx(fx_::kl_normal_p_loc), fx(fx_::kl_normal_p_scale));
  const Normal nq(fx(fx_::kl_normal_q_loc), fx(fx_::kl_normal_q_scale));  // [3], broadcast against [2, 3]
  CHECK_TORCH(kl_divergence(np, nq), fx_::kl_normal);
  CHECK_TORCH(kl_divergence(Independent(np, 1), Independent(nq, 1)), fx_::kl_independent);
  CHECK_TORCH(kl_divergence(Bernoulli(fx(fx_::kl_bern_p_logits)), Bernoulli(fx(fx_::kl_bern_q_logits))), fx_::kl_bern);
  CHECK_TORCH(kl_divergence(Bernoulli::from_probs(fx(fx_::kl_bernp_p)), Bernoulli::from_probs(fx(fx_::kl_bernp_q))),
              fx_::kl_bernp);  // exact zeros and ones: 0 and inf where torch has them
  CHECK_TORCH(kl_divergence(Categorical(fx(fx_::kl_cat_p_logits)), Categorical(fx(fx_::kl_cat_q_logits))), fx_::kl_cat);
  CHECK_TORCH(kl_divergence(OneHotCategorical(fx(fx_::kl_cat_p_logits)), OneHotCategorical(fx(fx_::kl_cat_q_logits))),
              fx_::kl_onehot);
  CHECK_TORCH(kl_divergence(Categorical::from_probs(fx(fx_::kl_catp_p)), Categorical::from_probs(fx(fx_::kl_catp_q))),
              fx_::kl_catp);
  // p [2, 3] against q [3]; logits inside torch's Taylor region on both sides
  CHECK_TORCH(kl_divergence(ContinuousBernoulli(fx(fx_::kl_cb_p_logits)), ContinuousBernoulli(fx(fx_::kl_cb_q_logits))),
              fx_::kl_cb);
}

TEST_CASE("kl_divergence closed forms: KL(p || p) = 0, the Normal formula, Bernoulli by hand") {
  const Normal p(tensor({0.3, -1}, {2}, DType::f64), tensor({0.5, 2}, {2}, DType::f64));
  for (double v : kl_divergence(p, p).to_vector<double>()) CHECK(v == doctest::Approx(0).epsilon(1e-15));
  const Normal q(zeros({}, DType::f64), ones({}, DType::f64));  // the VAE prior
  const auto k = kl_divergence(p, q).to_vector<double>();
  CHECK(k[0] == doctest::Approx(-std::log(0.5) + (0.25 + 0.09) / 2 - 0.5).epsilon(1e-14));
  CHECK(k[1] == doctest::Approx(-std::log(2.0) + (4.0 + 1) / 2 - 0.5).epsilon(1e-14));
  const double a = 0.3, b = 0.8;
  CHECK(kl_divergence(Bernoulli::from_probs(full({}, a, DType::f64)), Bernoulli::from_probs(full({}, b, DType::f64))).item() ==
        doctest::Approx(a * std::log(a / b) + (1 - a) * std::log((1 - a) / (1 - b))).epsilon(1e-14));
  const Categorical c(tensor({1, 2, 3}, {3}, DType::f64));
  CHECK(kl_divergence(c, c).item() == doctest::Approx(0).epsilon(1e-15));
  const ContinuousBernoulli cb(tensor({-40, -2, 0, 1e-4, 0.3, 700}, {6}, DType::f64));
  for (double v : kl_divergence(cb, cb).to_vector<double>()) CHECK(v == 0);
}

TEST_CASE("kl_divergence gradchecks wrt every parameter of p and q") {
  Generator gen(17);
  auto u = [&](const Shape& s, double lo, double hi) { return uniform(s, gen, lo, hi); };
  CHECK(gradcheck([](auto& in) { return kl_divergence(Normal(in[0], in[1]), Normal(in[2], in[3])); },
                  {u({2, 3}, -1, 1), u({2, 3}, 0.5, 2), u({3}, -1, 1), u({3}, 0.5, 2)}));
  CHECK(gradcheck([](auto& in) { return kl_divergence(Bernoulli(in[0]), Bernoulli(in[1])); },
                  {u({2, 3}, -3, 3), u({2, 3}, -3, 3)}));
  CHECK(gradcheck([](auto& in) { return kl_divergence(Bernoulli::from_probs(in[0]), Bernoulli::from_probs(in[1])); },
                  {u({4}, 0.1, 0.9), u({4}, 0.1, 0.9)}));
  CHECK(gradcheck([](auto& in) { return kl_divergence(Categorical(in[0]), Categorical(in[1])); },
                  {u({2, 4}, -2, 2), u({4}, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return kl_divergence(Categorical::from_probs(in[0]), Categorical::from_probs(in[1])); },
                  {u({2, 3}, 0.1, 1), u({2, 3}, 0.1, 1)}));
  CHECK(gradcheck([](auto& in) { return kl_divergence(OneHotCategorical(in[0]), OneHotCategorical(in[1])); },
                  {u({2, 3}, -2, 2), u({2, 3}, -2, 2)}));
  CHECK(gradcheck(
      [](auto& in) { return kl_divergence(Independent(Normal(in[0], in[1]), 1), Independent(Normal(in[2], in[3]), 1)); },
      {u({2, 3}, -1, 1), u({2, 3}, 0.5, 2), u({2, 3}, -1, 1), u({2, 3}, 0.5, 2)}));
  for (double r : {4.0, 0.2}) {  // 0.2: inside the moments' series
    CHECK(gradcheck([](auto& in) { return kl_divergence(ContinuousBernoulli(in[0]), ContinuousBernoulli(in[1])); },
                    {u({2, 3}, -r, r), u({3}, -r, r)}));
  }
}

namespace {
// Per-draw log p(z) - log q(z) for z ~ p, [n, batch...] flattened to columns: the mean of each column is
// a Monte Carlo KL estimate; checks it against the analytic KL within 5 standard errors.
template <class P, class Q> void check_mc(const P& p, const Q& q, uint64_t seed, int64_t n = 40000) {
  Generator gen(seed), twin(seed);
  const Tensor z = p.sample(gen, {n});
  const std::vector<double> d = (p.log_prob(z) - q.log_prob(z)).template to_vector<double>();
  const std::vector<double> kl = kl_divergence(p, q).template to_vector<double>();
  for (size_t j = 0; j < kl.size(); ++j) {
    CAPTURE(j);
    CHECK_WITHIN_5SE(mean_se(column(d, kl.size(), j)), kl[j]);
  }
  // kl_divergence_mc draws the same z (rsample and sample share the noise) and averages the same terms
  CHECK(all_close(kl_divergence_mc(p, q, twin, n), mean(p.log_prob(z) - q.log_prob(z), {0}), 1e-12, 1e-12));
}
}  // namespace

TEST_CASE("analytic KL agrees with Monte Carlo within 5 standard errors") {
  check_mc(Normal(tensor({0.3, -1, 2}, {3}, DType::f64), tensor({0.5, 2, 1}, {3}, DType::f64)),
           Normal(tensor({0, 0.5, 1}, {3}, DType::f64), tensor({1, 1, 3}, {3}, DType::f64)), 1);
  check_mc(Bernoulli(tensor({-2, 0.5, 3}, {3}, DType::f64)), Bernoulli(tensor({1, -1, 3.5}, {3}, DType::f64)), 2);
  check_mc(Categorical(tensor({1, 0, -1, 2, 0.5, 0.5}, {2, 3}, DType::f64)), Categorical(tensor({0, 0, 0}, {3}, DType::f64)), 3);
  check_mc(OneHotCategorical(tensor({1, 0, -1, 0.2}, {4}, DType::f64)), OneHotCategorical(tensor({-1, 1, 0, 0}, {4}, DType::f64)), 4);
  check_mc(Independent(Normal(tensor({0.3, -1, 2, 0}, {2, 2}, DType::f64), tensor({0.5, 2, 1, 1.5}, {2, 2}, DType::f64)), 1),
           Independent(Normal(zeros({2, 2}, DType::f64), ones({2, 2}, DType::f64)), 1), 5);
  check_mc(ContinuousBernoulli(tensor({-3, 0, 1e-4, 0.1, 2, 6}, {6}, DType::f64)),
           ContinuousBernoulli(tensor({1, -0.5, 0.05, -2, 2.5, 0}, {6}, DType::f64)), 6);
}

TEST_CASE("kl_divergence_mc: pathwise gradients with rsample, any pair with log_prob (relaxed included)") {
  Tensor loc = tensor({0.5}, {1}, DType::f64).requires_grad_();
  Generator gen(6);
  const Normal q(zeros({1}, DType::f64), ones({1}, DType::f64));
  const Tensor est = kl_divergence_mc(Normal(loc, full({1}, 0.5, DType::f64)), q, gen, 20000);
  sum(est).backward();
  CHECK(loc.grad().item() == doctest::Approx(0.5).epsilon(0.05));  // d/dm KL = m
  const RelaxedBernoulli rp(0.5, tensor({1.0}, {1}, DType::f64)), rq(0.5, tensor({-1.0}, {1}, DType::f64));
  const double r = kl_divergence_mc(rp, rq, gen, 4000).item();
  CHECK((std::isfinite(r) && r > 0));
  CHECK_ERROR_HAS(kl_divergence_mc(rp, rq, gen, 0), "kl_divergence_mc: n must be >= 1 draws, got 0");
}

TEST_CASE("kl_divergence with extreme logits +-100 is finite, as are its gradients") {
  Tensor lp = tensor({-100, 100, 100}, {3}, DType::f64).requires_grad_();
  Tensor lq = tensor({100, -100, 100}, {3}, DType::f64).requires_grad_();
  const Tensor k = kl_divergence(Bernoulli(lp), Bernoulli(lq));
  const auto v = k.to_vector<double>();
  CHECK(v[0] == doctest::Approx(100));
  CHECK(v[1] == doctest::Approx(100));
  CHECK(v[2] == doctest::Approx(0).epsilon(1e-30));
  sum(k).backward();
  for (double g : lp.grad().to_vector<double>()) CHECK(std::isfinite(g));
  for (double g : lq.grad().to_vector<double>()) CHECK(std::isfinite(g));
  // continuous Bernoulli at +-100: KL = 200 mean_p - A(100) + A(-100) = 200 (1 - 1/100) - 100 = 98
  Tensor cbp = tensor({100, -100, 100}, {3}, DType::f64).requires_grad_();
  Tensor cbq = tensor({-100, 100, 100}, {3}, DType::f64).requires_grad_();
  const Tensor kcb = kl_divergence(ContinuousBernoulli(cbp), ContinuousBernoulli(cbq));
  CHECK(kcb.to_vector<double>()[0] == doctest::Approx(98).epsilon(1e-12));
  CHECK(kcb.to_vector<double>()[1] == doctest::Approx(98).epsilon(1e-12));
  CHECK(kcb.to_vector<double>()[2] == 0);
  sum(kcb).backward();
  for (double g : cbp.grad().to_vector<double>()) CHECK(std::isfinite(g));
  for (double g : cbq.grad().to_vector<double>()) CHECK(std::isfinite(g));
  Tensor cp = tensor({100, -100, 0}, {3}, DType::f64).requires_grad_();
  const Tensor kc = kl_divergence(Categorical(cp), Categorical(tensor({-100, 100, 0}, {3}, DType::f64)));
  CHECK(kc.item() == doctest::Approx(200));
  kc.backward();
  for (double g : cp.grad().to_vector<double>()) CHECK(std::isfinite(g));
}

TEST_CASE("kl_divergence shape errors") {
  CHECK_ERROR_HAS(kl_divergence(Independent(Normal(zeros({2, 3}), ones({2, 3})), 1),
                                Independent(Normal(zeros({2, 3}), ones({2, 3})), 2)),
                  "kl_divergence: Independent distributions reinterpret different numbers of batch dims (1 vs 2; "
                  "event_shape [3] vs [2, 3])");
  CHECK_ERROR_HAS(kl_divergence(Categorical(zeros({2, 3})), Categorical(zeros({2, 4}))),
                  "kl_divergence: Categorical p has 3 classes (logits [2, 3]) but q has 4 (logits [2, 4])");
  CHECK_ERROR_HAS(kl_divergence(Normal(zeros({2}), ones({2})), Normal(zeros({3}), ones({3}))),
                  "kl_divergence: Normal p batch_shape [2] and q batch_shape [3] cannot be broadcast together");
  CHECK_ERROR_HAS(kl_divergence(ContinuousBernoulli(zeros({2, 3})), ContinuousBernoulli(zeros({2}))),
                  "kl_divergence: ContinuousBernoulli p batch_shape [2, 3] and q batch_shape [2] cannot be broadcast "
                  "together");
}
