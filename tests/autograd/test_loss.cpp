#include <cmath>

#include "fixtures/loss_fixtures.h"
#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

TEST_CASE("binary_cross_entropy_with_logits: values, reductions, gradchecks") {
  Tensor x = tensor({-1, 0, 2}, {3}, DType::f64), t = tensor({0, 0.5, 1}, {3}, DType::f64);
  const auto l = binary_cross_entropy_with_logits(x, t, Reduction::none).to_vector<double>();
  auto ref = [](double x, double t) { return -(t * std::log(1 / (1 + std::exp(-x))) + (1 - t) * std::log(1 - 1 / (1 + std::exp(-x)))); };
  for (size_t i = 0; i < 3; ++i) CHECK(l[i] == doctest::Approx(ref(x.to_vector<double>()[i], t.to_vector<double>()[i])).epsilon(1e-12));
  CHECK(binary_cross_entropy_with_logits(x, t, Reduction::sum).item() == doctest::Approx(l[0] + l[1] + l[2]));
  CHECK(binary_cross_entropy_with_logits(x, t).item() == doctest::Approx((l[0] + l[1] + l[2]) / 3));
  Generator gen(1);
  for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean})
    CHECK(gradcheck([r](auto& in) { return binary_cross_entropy_with_logits(in[0], in[1], r); },
                    {uniform({2, 3}, gen, -3, 3), uniform({2, 3}, gen, 0, 1)}));
}

TEST_CASE("binary_cross_entropy_with_logits is stable for |logit| up to 100") {
  Tensor x = tensor({-100, 100, -100, 100}, {4}, DType::f32).requires_grad_();
  Tensor t = tensor({0, 1, 1, 0}, {4}, DType::f32);
  Tensor l = binary_cross_entropy_with_logits(x, t, Reduction::none);
  const auto v = l.to_vector<double>();
  CHECK(v[0] == doctest::Approx(0).epsilon(1e-30));
  CHECK(v[1] == doctest::Approx(0).epsilon(1e-30));
  CHECK(v[2] == doctest::Approx(100));
  CHECK(v[3] == doctest::Approx(100));
  sum(l).backward();
  const auto g = x.grad().to_vector<double>();  // sigmoid(x) - t
  CHECK(g[0] == doctest::Approx(0));
  CHECK(g[2] == doctest::Approx(-1));
  CHECK(g[3] == doctest::Approx(1));
  for (double d : g) CHECK(std::isfinite(d));
}

TEST_CASE("binary_cross_entropy_with_logits_sum equals the loss summed over the last n dims, with its gradients") {
  Generator gen(3);
  // rows longer than one chunk (1024), a scalar output (n = dim), n = 0, and f32
  for (auto [shape, n] : {std::pair<Shape, int64_t>{{3, 5}, 1}, {{2, 3, 4}, 2}, {{2, 1500}, 1}, {{4, 3}, 2}, {{3, 2}, 0}}) {
    CAPTURE(shape);
    const Tensor x = uniform(shape, gen, -4, 4), t = uniform(shape, gen, 0, 1);
    const Tensor want = n == 0 ? binary_cross_entropy_with_logits(x, t, Reduction::none)
                               : sum(binary_cross_entropy_with_logits(x, t, Reduction::none),
                                     n == 1 ? Shape{-1} : Shape{-1, -2});
    const Tensor got = binary_cross_entropy_with_logits_sum(x, t, n);
    REQUIRE(got.shape() == want.shape());
    CHECK(all_close(got, want, 1e-12, 1e-12));
    const Tensor got32 = binary_cross_entropy_with_logits_sum(x.to(DType::f32), t.to(DType::f32), n);
    CHECK(got32.dtype() == DType::f32);
    CHECK(all_close(got32.to(DType::f64), want, 1e-4, 1e-5));
  }
  CHECK(gradcheck([](auto& in) { return binary_cross_entropy_with_logits_sum(in[0], in[1], 1); },
                  {uniform({3, 4}, gen, -3, 3), uniform({3, 4}, gen, 0, 1)}));
  CHECK(gradcheck([](auto& in) { return binary_cross_entropy_with_logits_sum(in[0], in[1], 2); },
                  {uniform({2, 2, 3}, gen, -3, 3), uniform({2, 2, 3}, gen, 0, 1)}));
  CHECK_ERROR_HAS(binary_cross_entropy_with_logits_sum(ones({2, 3}), ones({2, 2}), 1),
                  "binary_cross_entropy_with_logits_sum: logits [2, 3] and target [2, 2] must have the same shape");
  CHECK_ERROR_HAS(binary_cross_entropy_with_logits_sum(ones({2, 3}), ones({2, 3}), 3),
                  "binary_cross_entropy_with_logits_sum: cannot sum the last 3 dims of [2, 3]");
}

TEST_CASE("mse_loss") {
  Tensor a = tensor({1, 2, 3}, {3}, DType::f64), b = tensor({1, 0, 0}, {3}, DType::f64);
  CHECK(mse_loss(a, b).item() == doctest::Approx(13.0 / 3));
  CHECK(mse_loss(a, b, Reduction::sum).item() == 13);
  CHECK(mse_loss(a, b, Reduction::none).to_vector<double>() == std::vector<double>{0, 4, 9});
  Generator gen(2);
  for (Reduction r : {Reduction::none, Reduction::sum, Reduction::mean})
    CHECK(gradcheck([r](auto& in) { return mse_loss(in[0], in[1], r); }, {uniform({3, 2}, gen, -1, 1), uniform({3, 2}, gen, -1, 1)}));
  CHECK_ERROR_HAS(mse_loss(ones({2}), ones({3})), "mse_loss: input [2] and target [3] must have the same shape");
  CHECK_ERROR_HAS(binary_cross_entropy_with_logits(ones({2}), ones({2, 1})), "logits [2] and target [2, 1]");
}

namespace {
namespace lf = elbo::loss_fixtures;
Tensor fx(const lf::Array& a, DType d = DType::f64) { return tensor(a.values, a.shape, d); }
bool matches(const Tensor& t, const lf::Array& ref) {
  return t.shape() == Shape(ref.shape) && elbo::testing::all_close(t, fx(ref), 1e-10, 1e-10);
}
}  // namespace

TEST_CASE("cross_entropy and nll_loss match torch: reductions, class weights, ignore_index, label smoothing, gradients") {
  const Tensor logits = fx(lf::ce_logits), target = fx(lf::ce_target, DType::i64), w = fx(lf::ce_weight);
  struct Case {
    Reduction r;
    bool weighted;
    double smoothing;
    const lf::Array& value;
    const lf::Array& grad;
  };
  const Case cases[] = {
      {Reduction::none, false, 0, lf::ce_none, lf::ce_none_grad},
      {Reduction::none, false, 0.2, lf::ce_none_ls, lf::ce_none_ls_grad},
      {Reduction::none, true, 0, lf::ce_none_w, lf::ce_none_w_grad},
      {Reduction::none, true, 0.2, lf::ce_none_w_ls, lf::ce_none_w_ls_grad},
      {Reduction::sum, false, 0, lf::ce_sum, lf::ce_sum_grad},
      {Reduction::sum, true, 0.2, lf::ce_sum_w_ls, lf::ce_sum_w_ls_grad},
      {Reduction::mean, false, 0, lf::ce_mean, lf::ce_mean_grad},
      {Reduction::mean, false, 0.2, lf::ce_mean_ls, lf::ce_mean_ls_grad},
      {Reduction::mean, true, 0, lf::ce_mean_w, lf::ce_mean_w_grad},
      {Reduction::mean, true, 0.2, lf::ce_mean_w_ls, lf::ce_mean_w_ls_grad},
  };
  for (const Case& c : cases) {
    CAPTURE(int(c.r));
    CAPTURE(c.weighted);
    CAPTURE(c.smoothing);
    Tensor x = logits.clone().detach().requires_grad_();
    const Tensor loss = cross_entropy(x, target, {.weight = c.weighted ? w : Tensor(), .reduction = c.r,
                                                  .label_smoothing = c.smoothing});
    CHECK(matches(loss, c.value));
    sum(loss).backward();
    CHECK(matches(x.grad(), c.grad));
  }
  const Tensor lp = log_softmax(logits, 1);
  CHECK(matches(nll_loss(lp, target, {.reduction = Reduction::none}), lf::nll_none));
  CHECK(matches(nll_loss(lp, target), lf::nll_mean));
  CHECK(matches(nll_loss(lp, target, {.weight = w, .reduction = Reduction::sum}), lf::nll_sum_w));
  CHECK(matches(nll_loss(lp, target, {.weight = w}), lf::nll_mean_w));
  // classes on dim 1 of [N, C, d], as torch
  const Tensor l3 = fx(lf::ce3_logits), t3 = fx(lf::ce3_target, DType::i64);
  CHECK(matches(cross_entropy(l3, t3, {.reduction = Reduction::none}), lf::ce3_none));
  CHECK(matches(cross_entropy(l3, t3, {.label_smoothing = 0.3}), lf::ce3_mean_ls));
  // every CrossEntropyOptions field named, as a user spells it (autograd/ops.h)
  CHECK(cross_entropy(logits, target, {.ignore_index = -100, .reduction = Reduction::mean, .label_smoothing = 0.0})
            .item() == doctest::Approx(fx(lf::ce_mean).item()).epsilon(1e-12));
  Generator gen(4);
  CHECK(gradcheck([target, w](auto& in) { return cross_entropy(in[0], target, {.weight = w, .label_smoothing = 0.1}); },
                  {uniform({5, 4}, gen, -2, 2)}));
}

TEST_CASE("class-index losses: errors name the op, the shapes and the bad target") {
  const Tensor logits = zeros({3, 4}, DType::f64);
  CHECK_ERROR_HAS(cross_entropy(logits, tensor(std::vector<double>{0, 4, 1}, {3}, DType::i64)),
                  "cross_entropy: target 4 at index 1 is not a class in [0, 4) nor ignore_index -100");
  CHECK_ERROR_HAS(cross_entropy(logits, zeros({3})), "cross_entropy: target must be an i64 tensor of class indices, got f32 [3]");
  CHECK_ERROR_HAS(nll_loss(logits, zeros({2}, DType::i64)), "nll_loss: input [3, 4] (classes on dim 1) and target [2] do not fit");
  CHECK_ERROR_HAS(nll_loss(logits, zeros({3}, DType::i64), {.weight = ones({3})}), "nll_loss: weight [3] must be [4]");
  CHECK_ERROR_HAS(cross_entropy(logits, zeros({3}, DType::i64), {.label_smoothing = 1.5}), "label_smoothing must be in [0, 1]");
  CHECK_ERROR_HAS(nll_loss(logits, zeros({3}, DType::i64), {.reduction = Reduction::batchmean}),
                  "nll_loss: reduction batchmean is kl_div's");
  // every target ignored: the mean is 0 / 0, as torch
  CHECK(std::isnan(nll_loss(logits, full({3}, -100, DType::i64)).item()));
}

TEST_CASE("l1_loss, smooth_l1_loss and kl_div match torch; gradchecks") {
  const Tensor a = fx(lf::reg_input), b = fx(lf::reg_target);
  CHECK(matches(l1_loss(a, b), lf::l1_mean));
  CHECK(matches(l1_loss(a, b, Reduction::none), lf::l1_none));
  CHECK(matches(smooth_l1_loss(a, b, Reduction::mean, 0.5), lf::smooth_l1_mean));
  CHECK(matches(smooth_l1_loss(a, b, Reduction::sum, 2.0), lf::smooth_l1_sum_b2));
  const Tensor lp = fx(lf::kl_input), p = fx(lf::kl_target);
  CHECK(matches(kl_div(lp, p), lf::kl_mean));
  CHECK(matches(kl_div(lp, p, Reduction::none), lf::kl_none));
  CHECK(matches(kl_div(lp, p, Reduction::batchmean), lf::kl_batchmean));  // the KL per example
  CHECK(matches(kl_div(lp, fx(lf::kl_logt_target), Reduction::sum, true), lf::kl_sum_logt));
  Generator gen(5);
  CHECK(gradcheck([](auto& in) { return smooth_l1_loss(in[0], in[1], Reduction::sum, 0.7); },
                  {uniform({3, 4}, gen, -2, 2), uniform({3, 4}, gen, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return l1_loss(in[0], in[1]); }, {uniform({3, 4}, gen, -2, 2), uniform({3, 4}, gen, -2, 2)}));
  CHECK(gradcheck([p](auto& in) { return kl_div(in[0], p); }, {uniform({3, 4}, gen, -3, -0.1)}));
  CHECK(gradcheck([lp](auto& in) { return kl_div(lp, in[0]); }, {uniform({3, 4}, gen, 0.1, 1)}));
}
