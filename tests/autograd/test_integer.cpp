// Integer tensors take part in arithmetic as torch's do.
#include "test_util.h"

using namespace elbo;

namespace {
std::vector<int64_t> iv(const Tensor& t) { return t.to_vector<int64_t>(); }
}  // namespace

TEST_CASE("i64 tensors: creation, arithmetic, remainder and comparisons stay exact integers") {
  const Tensor y = tensor(std::vector<int64_t>{3, 1, 4, 9}, Shape{4});
  CHECK(y.dtype() == DType::i64);
  CHECK(iv((y + 1) % 10) == std::vector<int64_t>{4, 2, 5, 0});
  CHECK(iv(y * 3 - 2) == std::vector<int64_t>{7, 1, 10, 25});
  CHECK(iv(-y) == std::vector<int64_t>{-3, -1, -4, -9});
  CHECK(iv(abs(y - 4)) == std::vector<int64_t>{1, 3, 0, 5});
  CHECK(iv(y + y) == std::vector<int64_t>{6, 2, 8, 18});
  // remainder has the divisor's sign, as torch (and Python)
  const Tensor a = tensor(std::vector<int64_t>{-7, 7, -7, 7}, Shape{4}), b = tensor(std::vector<int64_t>{3, -3, -3, 3}, Shape{4});
  CHECK(iv(a % b) == std::vector<int64_t>{2, -2, -1, 1});
  CHECK(iv(remainder(a, 4.0)) == std::vector<int64_t>{1, 3, 1, 3});
  const Tensor pred = tensor(std::vector<int64_t>{3, 0, 4, 1}, Shape{4});
  CHECK(iv(eq(pred, y)) == std::vector<int64_t>{1, 0, 1, 0});
  CHECK(mean(eq(pred, y).to(DType::f32)).item() == doctest::Approx(0.5));
  CHECK(iv(maximum(y, full({}, 4, DType::i64))) == std::vector<int64_t>{4, 4, 4, 9});
  CHECK(iv(lt(y, pred)) == std::vector<int64_t>{0, 0, 0, 0});
  // large values: exact beyond float precision
  const Tensor big = tensor(std::vector<int64_t>{(int64_t(1) << 40) + 1}, Shape{1});
  CHECK(iv(big * 2 + 1) == std::vector<int64_t>{(int64_t(1) << 41) + 3});
  CHECK_ERROR_HAS(a % tensor(std::vector<int64_t>{1, 0, 1, 1}, Shape{4}), "remainder: integer division by zero");
}

TEST_CASE("i64 with floats promotes to the float; division is true division; reductions") {
  const Tensor y = tensor(std::vector<int64_t>{1, 2, 3, 4}, Shape{2, 2});
  const Tensor h = y * 0.5;
  CHECK(h.dtype() == DType::f32);
  CHECK(h.to_vector<double>() == std::vector<double>{0.5, 1, 1.5, 2});
  CHECK((y / 2).to_vector<double>() == std::vector<double>{0.5, 1, 1.5, 2});
  CHECK((y / y).dtype() == DType::f32);
  const Tensor f = ones({2, 2}, DType::f64);
  CHECK((y + f).dtype() == DType::f64);
  CHECK((f - y).to_vector<double>() == std::vector<double>{0, -1, -2, -3});
  CHECK(iv(sum(y)) == std::vector<int64_t>{10});
  CHECK(sum(y).dtype() == DType::i64);
  CHECK(iv(sum(y, {0})) == std::vector<int64_t>{4, 6});
  CHECK(iv(max(y, 1)) == std::vector<int64_t>{2, 4});
  CHECK(iv(argmax(y, 0)) == std::vector<int64_t>{1, 1});
  CHECK_ERROR_HAS(mean(y), "mean: an i64 tensor [2, 2] has no integer mean (as torch)");
  CHECK_ERROR_HAS(pow(y, y), "pow: i64 operands");
  // a float operand still carries gradients through the promotion
  Tensor w = ones({2, 2}, DType::f64).requires_grad_();
  sum(w * y).backward();
  CHECK(w.grad().to_vector<double>() == std::vector<double>{1, 2, 3, 4});
}

TEST_CASE("arange(start, end, step) as torch; float remainder and its gradient") {
  CHECK(iv(arange(2, 11, 3)) == std::vector<int64_t>{2, 5, 8});
  CHECK(arange(2, 11, 3).dtype() == DType::i64);
  CHECK(iv(arange(5, 0, -2)) == std::vector<int64_t>{5, 3, 1});
  CHECK(arange(0, 1, 0.25).dtype() == DType::f32);
  CHECK(arange(0, 1, 0.25).to_vector<double>() == std::vector<double>{0, 0.25, 0.5, 0.75});
  CHECK(arange(0, 3, 1, DType::f64).to_vector<double>() == std::vector<double>{0, 1, 2});
  CHECK(arange(3, 3).numel() == 0);
  CHECK_ERROR_HAS(arange(0, 1, 0), "arange: start 0, end 1 and step 0 must be finite, and step nonzero");
  const Tensor a = tensor({-7.5, 7.5}, {2}, DType::f64), b = tensor({2, -2}, {2}, DType::f64);
  CHECK(remainder(a, b).to_vector<double>() == std::vector<double>{0.5, -0.5});
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return remainder(in[0], in[1]); },
                  {tensor({-2.3, 1.7, 5.2}, {3}, DType::f64), tensor({0.7, -0.9, 1.1}, {3}, DType::f64)}));
}
