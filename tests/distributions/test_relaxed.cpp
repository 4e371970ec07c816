#include <cmath>
#include <limits>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using dist::RelaxedBernoulli;
using dist::RelaxedOneHotCategorical;

TEST_CASE("RelaxedBernoulli::log_prob matches torch (scalar and per-element temperature)") {
  const RelaxedBernoulli r(0.7, fx(fx_::rbern_logits));
  CHECK(r.batch_shape() == Shape{5});
  CHECK_TORCH(r.log_prob(fx(fx_::rbern_value)), fx_::rbern_log_prob);
  const RelaxedBernoulli t(fx(fx_::rbern_temps), fx(fx_::rbern_logits));
  CHECK_TORCH(t.log_prob(fx(fx_::rbern_value)), fx_::rbern_log_prob_temps);
}

TEST_CASE("RelaxedOneHotCategorical::log_prob matches torch") {
  const RelaxedOneHotCategorical r(0.5, fx(fx_::rcat_logits));
  CHECK(r.batch_shape() == Shape{2});
  CHECK(r.event_shape() == Shape{3});
  CHECK_TORCH(r.log_prob(fx(fx_::rcat_value)), fx_::rcat_log_prob);
}

TEST_CASE("RelaxedBernoulli rsample is the binary Concrete formula on the generator's uniforms") {
  const Tensor logits = tensor({-1, 0.5, 3}, {3}, DType::f64);
  const double temp = 0.4, eps = std::numeric_limits<double>::epsilon();
  Generator gen(5), twin(5);
  const Tensor y = RelaxedBernoulli(temp, logits).rsample(gen, {2});
  CHECK(y.shape() == Shape{2, 3});
  const Tensor u = clamp(rand({2, 3}, twin, DType::f64), eps, 1 - eps);
  CHECK(all_close(y, sigmoid((logits + log(u) - log(1.0 - u)) / temp), 1e-14, 1e-15));
}

TEST_CASE("Relaxed densities integrate to 1 (midpoint rule over (0, 1))") {
  const int64_t m = 200000;
  Tensor y = (arange(m, DType::f64) + 0.5) * (1.0 / double(m));
  for (double temp : {1.5, 2.0}) {  // T > 1: the densities vanish at the ends (for T < 1 they diverge there)
    CAPTURE(temp);
    const RelaxedBernoulli r(temp, tensor({0.8}, {1}, DType::f64));
    CHECK(sum(exp(r.log_prob(reshape(y, {m, 1})))).item() / double(m) == doctest::Approx(1).epsilon(1e-4));
    // K = 2: the simplex is the segment (y, 1 - y); the density is wrt y
    const RelaxedOneHotCategorical c(temp, tensor({0.3, -0.4}, {2}, DType::f64));
    const Tensor pts = stack({y, 1.0 - y}, 1);
    CHECK(sum(exp(c.log_prob(pts))).item() / double(m) == doctest::Approx(1).epsilon(1e-4));
  }
}

TEST_CASE("Relaxed gradchecks: log_prob wrt logits, temperature and value; rsample pathwise") {
  Generator gen(41);
  const Tensor logits = uniform({4}, gen, -2, 2), temp = uniform({}, gen, 0.4, 1.5), temps = uniform({4}, gen, 0.4, 1.5);
  const Tensor y = uniform({3, 4}, gen, 0.05, 0.95);
  CHECK(gradcheck([](auto& in) { return RelaxedBernoulli(in[1], in[0]).log_prob(in[2]); }, {logits, temp, y}));
  CHECK(gradcheck([](auto& in) { return RelaxedBernoulli(in[1], in[0]).log_prob(in[2]); }, {logits, temps, y}));
  CHECK(gradcheck(
      [](auto& in) {
        Generator g(3);
        return RelaxedBernoulli(in[1], in[0]).rsample(g, {2});
      },
      {logits, temp}));
  CHECK(gradcheck([](auto& in) { return RelaxedBernoulli::from_probs(in[1], in[0]).log_prob(in[2]); },
                  {uniform({4}, gen, 0.1, 0.9), temp, y}));
  const Tensor clogits = uniform({2, 3}, gen, -2, 2);
  const Tensor v = softmax(uniform({4, 2, 3}, gen, -1, 1), -1).detach();
  // (value stays fixed: a perturbed value leaves the simplex)
  CHECK(gradcheck([v](auto& in) { return RelaxedOneHotCategorical(in[1], in[0]).log_prob(v); }, {clogits, temp}));
  CHECK(gradcheck([v](auto& in) { return RelaxedOneHotCategorical(in[1], in[0]).log_prob(v); },
                  {clogits, uniform({2}, gen, 0.4, 1.5)}));
  CHECK(gradcheck(
      [](auto& in) {
        Generator g(4);
        return RelaxedOneHotCategorical(in[1], in[0]).rsample(g, {2});
      },
      {clogits, temp}));
}

TEST_CASE("Relaxed sampling statistics: P(y > 1/2) = sigmoid(logits), P(argmax y = k) = softmax(logits)_k") {
  Generator gen(99);
  const int64_t n = 40000;
  const std::vector<double> l{-1.5, 0.2, 2};
  const RelaxedBernoulli r(0.3, tensor(l, {3}, DType::f64));
  const std::vector<double> s = r.sample(gen, {n}).to_vector<double>();
  for (size_t j = 0; j < 3; ++j) {
    std::vector<double> above;
    for (double x : column(s, 3, j)) above.push_back(x > 0.5 ? 1 : 0);
    CHECK_WITHIN_5SE(mean_se(above), 1 / (1 + std::exp(-l[j])));
  }
  const Tensor cl = tensor({0.5, -1, 1, 0}, {4}, DType::f64);
  const RelaxedOneHotCategorical c(2.0, cl);  // Gumbel-max holds at any temperature
  const std::vector<int64_t> am = argmax(c.sample(gen, {n}), -1).to_vector<int64_t>();
  const std::vector<double> p = softmax(cl, 0).to_vector<double>();
  for (int64_t k = 0; k < 4; ++k) {
    std::vector<double> hit;
    for (int64_t a : am) hit.push_back(a == k ? 1 : 0);
    CHECK_WITHIN_5SE(mean_se(hit), p[size_t(k)]);
  }
  CHECK(all_close(sum(c.sample(gen, {5}), {-1}), ones({5}, DType::f64), 1e-14, 1e-14));
}

TEST_CASE("RelaxedOneHotCategorical rsample_hard: one-hot forward, soft (straight-through) gradient") {
  const Tensor w = tensor({0.3, -1, 2, 0.5, 1, -0.2}, {2, 3}, DType::f64);
  Tensor la = tensor({0.1, 0.2, -0.3}, {3}, DType::f64).requires_grad_();
  Tensor lb = la.detach().clone().requires_grad_();
  Generator ga(8), gb(8);
  const RelaxedOneHotCategorical a(0.5, la), b(0.5, lb);
  const Tensor hard = a.rsample_hard(ga, {2});
  const Tensor soft = b.rsample(gb, {2});
  CHECK(all_close(hard, one_hot(argmax(soft, -1), 3, DType::f64), 0, 1e-15));
  sum(hard * w).backward();
  sum(soft * w).backward();
  CHECK(all_close(la.grad(), lb.grad(), 1e-12, 1e-15));
}

TEST_CASE("Relaxed families with logits +-100: finite samples, log_prob and gradients") {
  Tensor logits = tensor({-100, 100}, {2}, DType::f64).requires_grad_();
  Generator gen(1);
  const RelaxedBernoulli r(0.5, logits);
  const Tensor y = r.rsample(gen, {3});
  const Tensor lp = r.log_prob(tensor({0.3, 0.7}, {2}, DType::f64));
  for (double v : y.to_vector<double>()) CHECK((v > 0 && v < 1));
  for (double v : lp.to_vector<double>()) CHECK(std::isfinite(v));
  sum(y).backward();
  sum(lp).backward();
  for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
  Tensor cl = tensor({100, -100, 0}, {3}, DType::f64).requires_grad_();
  const RelaxedOneHotCategorical c(0.5, cl);
  const Tensor z = c.rsample(gen, {2});
  sum(z * tensor({1, 2, 3}, {3}, DType::f64)).backward();
  for (double v : z.to_vector<double>()) CHECK(std::isfinite(v));
  for (double g : cl.grad().to_vector<double>()) CHECK(std::isfinite(g));
}

TEST_CASE("Relaxed validation errors") {
  CHECK_ERROR_HAS(RelaxedBernoulli(0.0, zeros({2})), "RelaxedBernoulli: temperature [] must be > 0 (found 0 at index 0)");
  CHECK_ERROR_HAS(RelaxedBernoulli(tensor({1, -2}, {2}), zeros({2})),
                  "RelaxedBernoulli: temperature [2] must be > 0 (found -2 at index 1)");
  CHECK_ERROR_HAS(RelaxedBernoulli(ones({3}), zeros({2})),
                  "RelaxedBernoulli: temperature [3] and batch_shape [2] cannot be broadcast together");
  CHECK_ERROR_HAS(RelaxedBernoulli(ones({2, 1}), zeros({2})), "RelaxedBernoulli: temperature [2, 1] must broadcast to batch_shape [2]");
  CHECK_ERROR_HAS(RelaxedBernoulli(1.0, tensor({NAN}, {1})), "Bernoulli: logits [1] must not be NaN");
  CHECK_ERROR_HAS(RelaxedBernoulli(1.0, zeros({2})).log_prob(tensor({0.5, 1.5}, {2})),
                  "RelaxedBernoulli: value [2] must be in [0, 1] (found 1.5 at index 1)");
  CHECK_ERROR_HAS(RelaxedOneHotCategorical(-1.0, zeros({3})), "RelaxedOneHotCategorical: temperature [] must be > 0 (found -1 at index 0)");
  const RelaxedOneHotCategorical c(1.0, zeros({2, 3}));
  CHECK_ERROR_HAS(c.log_prob(tensor({0.2, 0.3, 0.5, 0.2, 0.3, 0.6}, {2, 3})),
                  "RelaxedOneHotCategorical: value [2, 3] must lie on the simplex (>= 0, summing to 1 over the last dim; found row 1 summing to 1.1)");
  CHECK_ERROR_HAS(c.log_prob(tensor({-0.2, 0.7, 0.5}, {1, 3})),
                  "RelaxedOneHotCategorical: value [1, 3] must be >= 0 (found -0.2 at index 0)");
  CHECK_ERROR_HAS(c.log_prob(zeros({2, 2})), "RelaxedOneHotCategorical: value [2, 2] must end in the event_shape [3]");
}
