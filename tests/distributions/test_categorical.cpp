#include <cmath>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::testing;
namespace fx_ = elbo::fixtures;
using dist::Categorical;
using dist::OneHotCategorical;

namespace {
Tensor index_fx(const fixtures::Array& a) { return tensor(a.values, a.shape, DType::i64); }
}  // namespace

TEST_CASE("Categorical matches torch: normalized logits, probs, log_prob (broadcast), entropy") {
  const Categorical c(fx(fx_::cat_logits));
  CHECK(c.batch_shape() == Shape{2});
  CHECK(c.event_shape() == Shape{});
  CHECK(c.num_events() == 4);
  CHECK_TORCH(c.logits(), fx_::cat_norm_logits);
  CHECK_TORCH(c.probs(), fx_::cat_probs);
  CHECK_TORCH(c.log_prob(index_fx(fx_::cat_value)), fx_::cat_log_prob);
  CHECK_TORCH(c.entropy(), fx_::cat_entropy);
}

TEST_CASE("Categorical::from_probs matches torch: unnormalized probs with a zero") {
  const Categorical c = Categorical::from_probs(fx(fx_::catp_probs_in));
  CHECK_TORCH(c.probs(), fx_::catp_probs);
  CHECK_TORCH(c.logits(), fx_::catp_logits);
  CHECK_TORCH(c.log_prob(index_fx(fx_::cat_value)), fx_::catp_log_prob);
  CHECK_TORCH(c.entropy(), fx_::catp_entropy);
}

TEST_CASE("OneHotCategorical matches torch") {
  const OneHotCategorical c(fx(fx_::cat_logits));
  CHECK(c.batch_shape() == Shape{2});
  CHECK(c.event_shape() == Shape{4});
  CHECK_TORCH(c.log_prob(one_hot(index_fx(fx_::cat_value), 4, DType::f64)), fx_::onehot_log_prob);
  CHECK_TORCH(c.entropy(), fx_::onehot_entropy);
  CHECK_TORCH(c.mean(), fx_::cat_probs);
  CHECK_TORCH(c.variance(), fx_::onehot_variance);
}

TEST_CASE("Categorical closed forms: logits normalized, log_prob = log softmax, uniform entropy log K") {
  const Tensor raw = tensor({1, 2, 3, 0, 0, 0}, {2, 3}, DType::f64);
  const Categorical c(raw);
  for (double v : logsumexp(c.logits(), -1).to_vector<double>()) CHECK(v == doctest::Approx(0).epsilon(1e-15));
  const auto lp = c.log_prob(tensor({2, 1}, {2}, DType::i64)).to_vector<double>();
  CHECK(lp[0] == doctest::Approx(3 - std::log(std::exp(1) + std::exp(2) + std::exp(3))).epsilon(1e-14));
  CHECK(lp[1] == doctest::Approx(-std::log(3)).epsilon(1e-14));
  CHECK(c.entropy().to_vector<double>()[1] == doctest::Approx(std::log(3)).epsilon(1e-14));
  // a scalar index broadcasts over the batch; sample dims lead
  CHECK(c.log_prob(tensor({0}, {}, DType::i64)).shape() == Shape{2});
  CHECK(c.log_prob(zeros({5, 2}, DType::i64)).shape() == Shape{5, 2});
  // a single distribution over K (batch_shape [])
  const Categorical one(tensor({0, 0}, {2}, DType::f64));
  CHECK(one.batch_shape() == Shape{});
  CHECK(one.log_prob(tensor({1}, {}, DType::i64)).item() == doctest::Approx(std::log(0.5)));
}

TEST_CASE("Categorical and OneHotCategorical gradchecks wrt logits and probs") {
  Generator gen(31);
  const Tensor logits = uniform({2, 4}, gen, -2, 2);
  const Tensor idx = tensor({3, 0, 1, 1, 2, 0}, {3, 2}, DType::i64);
  CHECK(gradcheck([idx](auto& in) { return Categorical(in[0]).log_prob(idx); }, {logits}));
  CHECK(gradcheck([](auto& in) { return Categorical(in[0]).entropy(); }, {logits}));
  CHECK(gradcheck([](auto& in) { return Categorical(in[0]).probs(); }, {logits}));
  const Tensor probs = uniform({2, 4}, gen, 0.1, 1);  // unnormalized
  CHECK(gradcheck([idx](auto& in) { return Categorical::from_probs(in[0]).log_prob(idx); }, {probs}));
  CHECK(gradcheck([](auto& in) { return Categorical::from_probs(in[0]).entropy(); }, {probs}));
  const Tensor oh = one_hot(idx, 4, DType::f64);
  CHECK(gradcheck([oh](auto& in) { return OneHotCategorical(in[0]).log_prob(oh); }, {logits}));
  CHECK(gradcheck([](auto& in) { return OneHotCategorical(in[0]).variance(); }, {logits}));
}

TEST_CASE("Categorical with logits +-100: finite log_prob, entropy and gradients") {
  for (DType d : {DType::f32, DType::f64}) {
    INFO(std::string(name(d)));
    Tensor logits = tensor({100, -100, 0, -100, 100, 100}, {2, 3}, d).requires_grad_();
    const Categorical c(logits);
    const Tensor lp = c.log_prob(tensor({0, 1, 2, 0, 1, 2}, {3, 2}, DType::i64));
    const auto v = lp.to_vector<double>();
    CHECK(v[0] == doctest::Approx(0).epsilon(1e-30));
    CHECK(v[2] == doctest::Approx(-100).epsilon(1e-6));
    CHECK(v[4] == doctest::Approx(-200).epsilon(1e-6));
    for (double x : v) CHECK(std::isfinite(x));
    const Tensor h = c.entropy();
    for (double x : h.to_vector<double>()) CHECK(std::isfinite(x));
    sum(lp).backward();
    for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
    logits.set_grad(Tensor());
    sum(Categorical(logits).entropy()).backward();
    for (double g : logits.grad().to_vector<double>()) CHECK(std::isfinite(g));
  }
}

TEST_CASE("Categorical sample: i64 indices, shapes, class frequencies within 5 standard errors") {
  Generator gen(77);
  const std::vector<double> p{0.1, 0.2, 0.3, 0.4, 0.7, 0.2, 0.1, 0.0};
  const Categorical c = Categorical::from_probs(tensor(p, {2, 4}, DType::f64));
  const int64_t n = 40000;
  const Tensor s = c.sample(gen, {n});
  CHECK(s.dtype() == DType::i64);
  CHECK(s.shape() == Shape{n, 2});
  const std::vector<int64_t> v = s.to_vector<int64_t>();
  for (size_t row = 0; row < 2; ++row)
    for (int64_t k = 0; k < 4; ++k) {
      std::vector<double> hit;
      for (size_t i = row; i < v.size(); i += 2) hit.push_back(v[i] == k ? 1 : 0);
      CAPTURE(row);
      CAPTURE(k);
      CHECK_WITHIN_5SE(mean_se(hit), p[row * 4 + size_t(k)]);
    }
  CHECK(c.sample(gen).shape() == Shape{2});
  // OneHotCategorical: one-hot rows in dtype(), same frequencies
  const OneHotCategorical oh = OneHotCategorical::from_probs(tensor(p, {2, 4}, DType::f64));
  const Tensor o = oh.sample(gen, {n});
  CHECK(o.shape() == Shape{n, 2, 4});
  CHECK(o.dtype() == DType::f64);
  CHECK(all_close(sum(o, {-1}), ones({n, 2}, DType::f64), 0, 0));
  const std::vector<double> ov = o.to_vector<double>();
  for (size_t j = 0; j < 8; ++j) CHECK_WITHIN_5SE(mean_se(column(ov, 8, j)), p[j]);
}

TEST_CASE("Categorical and OneHotCategorical validation errors") {
  const Categorical c(zeros({3, 4}));
  CHECK_ERROR_HAS(c.log_prob(tensor({0, 1, 4}, {3}, DType::i64)),
                  "Categorical: value [3] must be a class index in [0, 4) (found 4 at index 2)");
  CHECK_ERROR_HAS(c.log_prob(tensor({-1, 1, 2}, {3}, DType::i64)),
                  "Categorical: value [3] must be a class index in [0, 4) (found -1 at index 0)");
  CHECK_ERROR_HAS(c.log_prob(zeros({3})), "Categorical: value must be an i64 tensor of class indices, got f32 [3]");
  CHECK_ERROR_HAS(c.log_prob(zeros({2}, DType::i64)),
                  "Categorical: value [2] and batch_shape ++ event_shape [3] cannot be broadcast");
  CHECK_ERROR_HAS(Categorical(zeros({})), "Categorical: logits must be [..., K] with K >= 1 classes in the last dim, got shape []");
  CHECK_ERROR_HAS(Categorical(tensor({0, NAN}, {2})), "Categorical: logits [2] must not be NaN (found nan at index 1)");
  CHECK_ERROR_HAS(Categorical::from_probs(tensor({0.5, -0.5, 1, 0}, {2, 2})),
                  "Categorical: probs [2, 2] must be >= 0 (found -0.5 at index 1)");
  CHECK_ERROR_HAS(Categorical::from_probs(tensor({0.5, 0.5, 0, 0}, {2, 2})),
                  "Categorical: probs [2, 2] must have a positive, finite sum over the last dim (found row 1 summing to 0)");
  const OneHotCategorical oh(zeros({2, 4}));
  CHECK_ERROR_HAS(oh.log_prob(tensor({0, 1, 0, 0, 1, 0, 1, 0}, {2, 4})),
                  "OneHotCategorical: value [2, 4] must be one-hot over the last dim (exactly one 1, the rest 0; found row 1 with 2 ones)");
  CHECK_ERROR_HAS(oh.log_prob(tensor({0, 0.5, 0.5, 0}, {1, 4})), "found row 0 with a value other than 0 and 1");
  CHECK_ERROR_HAS(oh.log_prob(zeros({2, 3})), "OneHotCategorical: value [2, 3] must end in the event_shape [4] (batch_shape [2])");
  dist::ValidateArgsGuard off(false);
  CHECK_NOTHROW(oh.log_prob(tensor({0, 1, 0, 0, 1, 0, 1, 0}, {2, 4})));
  CHECK_NOTHROW(Categorical::from_probs(tensor({0.5, -0.5, 1, 0.5}, {2, 2})));
  // out-of-range indices still fail, in gather, when validation is off
  CHECK_ERROR_HAS(c.log_prob(tensor({0, 1, 4}, {3}, DType::i64)), "gather: index 4 is out of range");
}
