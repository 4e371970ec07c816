#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

namespace {
using Fn2 = Tensor (*)(const Tensor&, const Tensor&);
// unused: an input may lose everywhere (maximum of a scalar against a matrix), so not affect the output
bool check2(Fn2 f, const Shape& sa, const Shape& sb, double lo = -2, double hi = 2, double lo_b = 0, double hi_b = 0,
            bool unused = false) {
  Generator gen(5);
  if (lo_b == hi_b) lo_b = lo, hi_b = hi;
  return gradcheck([f](auto& in) { return f(in[0], in[1]); }, {uniform(sa, gen, lo, hi), uniform(sb, gen, lo_b, hi_b)},
                   {.allow_unused = unused});
}
}  // namespace

TEST_CASE("binary ops: gradchecks with broadcasting on both sides") {
  for (auto [sa, sb] : {std::pair<Shape, Shape>{{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}},
                        {{}, {2, 3}}, {{2, 3}, {}}}) {
    CAPTURE(sa);
    CAPTURE(sb);
    CHECK(check2(add, sa, sb));
    CHECK(check2(sub, sa, sb));
    CHECK(check2(mul, sa, sb));
    CHECK(check2(div, sa, sb, -2, 2, 0.5, 2));
    CHECK(check2(pow, sa, sb, 0.5, 2));
    CHECK(check2(maximum, sa, sb, -2, 2, 0, 0, true));
    CHECK(check2(minimum, sa, sb, -2, 2, 0, 0, true));
  }
}

TEST_CASE("scalar operands and unary minus") {
  Generator gen(2);
  const Tensor x = uniform({2, 3}, gen, 0.5, 2);
  CHECK(gradcheck([](auto& in) { return in[0] * 2.0 + 1.0; }, {x}));
  CHECK(gradcheck([](auto& in) { return 1.0 - in[0]; }, {x}));
  CHECK(gradcheck([](auto& in) { return 3.0 / in[0] - in[0] / 4.0; }, {x}));
  CHECK(gradcheck([](auto& in) { return 2.0 * (in[0] - 0.5) + (-in[0]); }, {x}));
  const auto v = (1.0 - tensor({1, 2}, {2}, DType::f64)).to_vector<double>();
  CHECK(v == std::vector<double>{0, -1});
  CHECK((tensor({3}, {1}) / 2.0).item() == 1.5);
}

TEST_CASE("broadcast forward values") {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  Tensor b = tensor({10, 20, 30}, {3}, DType::f64);
  CHECK((a + b).to_vector<double>() == std::vector<double>{11, 22, 33, 14, 25, 36});
  Tensor c = tensor({100, 200}, {2, 1}, DType::f64);
  CHECK((a * c).to_vector<double>() == std::vector<double>{100, 200, 300, 800, 1000, 1200});
  Tensor r = tensor({1, 2}, {2, 1}, DType::f64) - tensor({1, 2, 3}, {1, 3}, DType::f64);
  CHECK(r.shape() == Shape{2, 3});
  CHECK(r.to_vector<double>() == std::vector<double>{0, -1, -2, 1, 0, -1});
}

TEST_CASE("mixed f32/f64 promotes to f64 and gradients come back in each input's dtype") {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2}, DType::f64).requires_grad_();
  Tensor y = a * b;
  CHECK(y.dtype() == DType::f64);
  sum(y).backward();
  CHECK(a.grad().dtype() == DType::f32);
  CHECK(b.grad().dtype() == DType::f64);
}

TEST_CASE("comparisons give masks; where selects and routes gradients") {
  Tensor a = tensor({1, 5, 3}, {3}, DType::f64), b = tensor({2, 5, 1}, {3}, DType::f64);
  CHECK(lt(a, b).to_vector<double>() == std::vector<double>{1, 0, 0});
  CHECK(le(a, b).to_vector<double>() == std::vector<double>{1, 1, 0});
  CHECK(gt(a, b).to_vector<double>() == std::vector<double>{0, 0, 1});
  CHECK(ge(a, b).to_vector<double>() == std::vector<double>{0, 1, 1});
  CHECK(eq(a, b).to_vector<double>() == std::vector<double>{0, 1, 0});
  CHECK(ne(a, b).to_vector<double>() == std::vector<double>{1, 0, 1});
  CHECK(!lt(a.clone().requires_grad_(), b).requires_grad());
  Generator gen(1);
  const Tensor cond = tensor({1, 0, 1, 0, 0, 1}, {2, 3}, DType::f64);
  CHECK(gradcheck([cond](auto& in) { return where(cond, in[0], in[1]); }, {uniform({2, 3}, gen, -1, 1), uniform({3}, gen, -1, 1)}));
  CHECK(where(cond, ones({2, 3}, DType::f64), zeros({}, DType::f64)).to_vector<double>() == cond.to_vector<double>());
  // an infinite value in the branch not taken does not leak into the result
  Tensor inf = full({2, 3}, INFINITY, DType::f64);
  for (double v : where(cond, zeros({2, 3}, DType::f64), inf).to_vector<double>()) CHECK((v == 0 || std::isinf(v)));
}

TEST_CASE("binary errors name the op and shapes") {
  CHECK_ERROR_HAS(ones({2, 3}) + ones({4}), "add: shapes [2, 3] and [4] cannot be broadcast");
  CHECK_ERROR_HAS(ones({2, 3}) * ones({3, 2}), "mul: shapes [2, 3] and [3, 2] cannot be broadcast");
  CHECK((arange(3) + arange(3)).to_vector<int64_t>() == std::vector<int64_t>{0, 2, 4});  // integers add exactly
  CHECK_ERROR_HAS(exp(arange(3)), "exp: expected a floating-point tensor");
  CHECK_ERROR_HAS(where(ones({2}), ones({3}), ones({2})), "where: shapes");
}

TEST_CASE("large elementwise ops split across threads give the same values") {
  Generator gen(4);
  const Tensor a = randn({300000}, gen), b = randn({300000}, gen);
  const int n = num_threads();
  set_num_threads(1);
  const auto one = (exp(a) * b + a).to_vector<float>();
  set_num_threads(2);
  const auto two = (exp(a) * b + a).to_vector<float>();
  set_num_threads(n);
  CHECK(one == two);
}
