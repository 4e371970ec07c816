#include <cmath>

#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

TEST_CASE("sum and mean: values and gradchecks over all, one and several dims, with keepdim") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  CHECK(sum(x).item() == 21);
  CHECK(mean(x).item() == 3.5);
  CHECK(sum(x, {0}).to_vector<double>() == std::vector<double>{5, 7, 9});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
  CHECK(sum(x, {-1}).to_vector<double>() == std::vector<double>{6, 15});
  CHECK(mean(x, {0}).to_vector<double>() == std::vector<double>{2.5, 3.5, 4.5});
  CHECK(sum(x, {0, 1}).item() == 21);
  Generator gen(3);
  const Tensor y = uniform({2, 3, 4}, gen, -1, 1);
  CHECK(gradcheck([](auto& in) { return sum(in[0]); }, {y}));
  CHECK(gradcheck([](auto& in) { return mean(in[0]); }, {y}));
  for (bool keep : {false, true})
    for (Shape dims : {Shape{0}, Shape{1}, Shape{2}, Shape{0, 2}, Shape{1, 2}, Shape{0, 1, 2}}) {
      CAPTURE(dims);
      CHECK(gradcheck([dims, keep](auto& in) { return sum(in[0], dims, keep); }, {y}));
      CHECK(gradcheck([dims, keep](auto& in) { return mean(in[0], dims, keep); }, {y}));
    }
  const Tensor s = sum(y, {0, 2});
  CHECK(all_close(s, sum(sum(y, {2}), {0})));
}

TEST_CASE("max and min over a dim: values, first index, gradient to the selected element") {
  Tensor x = tensor({1, 7, 7, 4, -2, 0}, {2, 3}, DType::f64);
  CHECK(max(x, 1).to_vector<double>() == std::vector<double>{7, 4});
  CHECK(min(x, 1).to_vector<double>() == std::vector<double>{1, -2});
  CHECK(argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0});
  CHECK(argmin(x, 0).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1});
  CHECK(max(x, 0, true).shape() == Shape{1, 3});
  Generator gen(8);
  const Tensor y = uniform({3, 4, 2}, gen, -1, 1);  // distinct values almost surely
  for (int64_t d : {0, 1, 2, -1}) {
    CHECK(gradcheck([d](auto& in) { return max(in[0], d); }, {y}));
    CHECK(gradcheck([d](auto& in) { return min(in[0], d, true); }, {y}));
  }
  Tensor t = x.clone().requires_grad_();
  sum(max(t, 1)).backward();
  CHECK(t.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 1, 0, 0});
}

TEST_CASE("logsumexp, softmax, log_softmax: stable and differentiable") {
  Generator gen(9);
  const Tensor y = uniform({3, 5}, gen, -3, 3);
  for (int64_t d : {0, 1}) {
    CHECK(gradcheck([d](auto& in) { return logsumexp(in[0], d); }, {y}));
    CHECK(gradcheck([d](auto& in) { return logsumexp(in[0], d, true); }, {y}));
    CHECK(gradcheck([d](auto& in) { return softmax(in[0], d); }, {y}));
    CHECK(gradcheck([d](auto& in) { return log_softmax(in[0], d); }, {y}));
  }
  Tensor big = tensor({1000, 1000, -1000}, {1, 3}, DType::f64);
  CHECK(logsumexp(big, 1).item() == doctest::Approx(1000 + std::log(2.0)));
  const auto ls = log_softmax(big, 1).to_vector<double>();
  CHECK(ls[0] == doctest::Approx(-std::log(2.0)));
  CHECK(std::isfinite(ls[2]));
  const auto sm = softmax(big.to(DType::f32), 1).to_vector<double>();
  CHECK(sm[0] == doctest::Approx(0.5));
  CHECK(sm[2] == 0.0);
  Tensor ninf = full({1, 2}, -INFINITY, DType::f64);
  CHECK(std::isinf(logsumexp(ninf, 1).item()));
  // softmax rows sum to one
  CHECK(all_close(sum(softmax(y, 1), {1}), ones({3}, DType::f64), 1e-12));
}

TEST_CASE("sum_to is the adjoint of broadcasting") {
  Tensor g = ones({2, 3, 4}, DType::f64);
  CHECK(sum_to(g, {3, 1}).to_vector<double>() == std::vector<double>{8, 8, 8});
  CHECK(sum_to(g, {}).item() == 24);
  CHECK(sum_to(g, {2, 3, 4}).same(g));
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return sum_to(in[0], {1, 4}); }, {uniform({2, 3, 4}, gen, -1, 1)}));
  CHECK_ERROR_HAS(sum_to(g, {5}), "sum_to");
}

TEST_CASE("reduction errors") {
  CHECK_ERROR_HAS(sum(ones({2, 3}), {2}), "sum: dim 2 out of range for a tensor with 2 dims");
  CHECK_ERROR_HAS(sum(ones({2, 3}), {1, -1}), "repeat a dim");
  CHECK_ERROR_HAS(max(zeros({2, 0}), 1), "cannot reduce over dim 1 of size 0");
  CHECK_ERROR_HAS(logsumexp(ones({2}), 3), "logsumexp: dim 3 out of range");
}

TEST_CASE("f32 reductions agree with f64") {
  Generator gen(2);
  const Tensor x = uniform({64, 33}, gen, -1, 1);
  CHECK(all_close(sum(x.to(DType::f32), {0}).to(DType::f64), sum(x, {0}), 1e-5, 1e-5));
  CHECK(all_close(logsumexp(x.to(DType::f32), 1).to(DType::f64), logsumexp(x, 1), 1e-5, 1e-5));
}

TEST_CASE("count_outside: elements outside [lo, hi], NaN included; floating tensors only") {
  const Tensor x = tensor({0, 0.5, 1, 1.5, -0.25, std::nan("")}, {2, 3});
  CHECK(count_outside(x, 0, 1) == 3);
  CHECK(count_outside(x.to(DType::f64), 0, 1) == 3);
  CHECK(count_outside(x, -INFINITY, INFINITY) == 1);
  CHECK(count_outside(zeros({0}), 0, 1) == 0);
  CHECK_ERROR_HAS(count_outside(arange(3), 0, 1), "count_outside: expected a floating-point tensor (f32 or f64), got i64");
}
