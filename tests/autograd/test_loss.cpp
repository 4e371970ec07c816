#include <cmath>

#include "test_util.h"

using namespace elbo;
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
