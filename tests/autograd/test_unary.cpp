#include <cmath>

#include "test_util.h"

using namespace elbo;
using elbo::testing::uniform;

namespace {
bool check1(Tensor (*f)(const Tensor&), double lo, double hi, Shape s = {3, 4}) {
  Generator gen(7);
  return gradcheck([f](auto& in) { return f(in[0]); }, {uniform(s, gen, lo, hi)});
}
}  // namespace

TEST_CASE("unary ops: f64 gradchecks") {
  CHECK(check1(neg, -2, 2));
  CHECK(check1(exp, -2, 2));
  CHECK(check1(log, 0.1, 3));
  CHECK(check1(log1p, -0.5, 3));
  CHECK(check1(expm1, -2, 2));
  CHECK(check1(sqrt, 0.1, 3));
  CHECK(check1(square, -2, 2));
  CHECK(check1(abs, 0.1, 2));
  CHECK(check1(abs, -2, -0.1));
  CHECK(check1(sigmoid, -4, 4));
  CHECK(check1(tanh, -2, 2));
  CHECK(check1(relu, 0.1, 2));
  Generator g7(7);
  CHECK(gradcheck([](auto& in) { return relu(in[0]); }, {uniform({3, 4}, g7, -2, -0.1)},
                  {.allow_unused = true}));  // gradient 0 everywhere
  CHECK(check1(softplus, -5, 5));
  CHECK(check1(log_sigmoid, -5, 5));
  CHECK(check1(erf, -2, 2));
  CHECK(check1(erfinv, -0.95, 0.95));
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return elu(in[0], 0.7); }, {uniform({2, 5}, gen, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return leaky_relu(in[0], 0.1); }, {uniform({2, 5}, gen, -2, 2)}));
  CHECK(gradcheck([](auto& in) { return clamp(in[0], -0.5, 0.5); }, {uniform({4, 4}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return pow(in[0], 2.5); }, {uniform({3}, gen, 0.5, 2)}));
  CHECK(gradcheck([](auto& in) { return pow(in[0], -1.0); }, {uniform({3}, gen, 0.5, 2)}));
}

TEST_CASE("unary ops: values against closed forms") {
  const Tensor x = tensor({-100, -2, -0.5, 0, 0.5, 2, 100}, {7}, DType::f64);
  const auto xs = x.to_vector<double>();
  auto expect = [&](const Tensor& y, auto f) {
    const auto v = y.to_vector<double>();
    for (size_t i = 0; i < xs.size(); ++i) CHECK(v[i] == doctest::Approx(f(xs[i])).epsilon(1e-12));
  };
  expect(sigmoid(x), [](double v) { return 1 / (1 + std::exp(-v)); });
  expect(tanh(x), [](double v) { return std::tanh(v); });
  expect(relu(x), [](double v) { return v > 0 ? v : 0; });
  expect(softplus(x), [](double v) { return v > 30 ? v : std::log1p(std::exp(v)); });
  expect(log_sigmoid(x), [](double v) { return v < -30 ? v : -std::log1p(std::exp(-v)); });
  expect(elu(x), [](double v) { return v > 0 ? v : std::expm1(v); });
  expect(leaky_relu(x, 0.2), [](double v) { return v > 0 ? v : 0.2 * v; });
  expect(clamp(x, -1, 1), [](double v) { return std::min(1.0, std::max(-1.0, v)); });
  expect(abs(x), [](double v) { return std::abs(v); });
  expect(sign(x), [](double v) { return double((v > 0) - (v < 0)); });
  // stable at the extremes: no inf or nan
  for (double v : softplus(x * 10.0).to_vector<double>()) CHECK(std::isfinite(v));
  for (double v : log_sigmoid(x * 10.0).to_vector<double>()) CHECK(std::isfinite(v));
}

TEST_CASE("unary ops: f32 agrees with f64") {
  Generator gen(3);
  const Tensor x = uniform({257}, gen, 0.1, 3);
  for (auto f : {exp, log, log1p, expm1, sqrt, sigmoid, tanh, softplus, log_sigmoid})
    CHECK(elbo::testing::all_close(f(x.to(DType::f32)).to(DType::f64), f(x), 1e-5, 1e-6));
}

TEST_CASE("relu and abs gradients at zero are zero, as torch") {
  Tensor x = zeros({3}, DType::f64).requires_grad_();
  sum(relu(x) + abs(x)).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 0, 0});
}

TEST_CASE("erf and erfinv: inverse of each other, edges, f32 kept") {
  const Tensor x = tensor({-2.5, -0.3, 0, 1e-4, 0.7, 3}, {6}, DType::f64);
  CHECK(testing::all_close(erfinv(erf(x)), x, 1e-12, 1e-15));
  const auto e = erfinv(tensor({-1, 1, 1.5, -2}, {4}, DType::f64)).to_vector<double>();
  CHECK(e[0] == -INFINITY);
  CHECK(e[1] == INFINITY);
  CHECK(std::isnan(e[2]));
  CHECK(std::isnan(e[3]));
  CHECK(erf(tensor({0.3}, {1}, DType::f32)).dtype() == DType::f32);
  CHECK_THROWS_AS(erf(arange(3)), Error);  // i64 holds indices
}
