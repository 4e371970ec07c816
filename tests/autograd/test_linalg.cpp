// diagonal, diag_embed, tril, triu, cholesky, solve_triangular: values and gradients against torch.linalg,
// gradchecks, and the errors a user meets.
#include "fixtures/linalg_fixtures.h"
#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

namespace {
namespace lf = elbo::linalg_fixtures;
Tensor fx(const lf::Array& a) { return tensor(a.values, a.shape, DType::f64); }
bool matches(const Tensor& t, const lf::Array& ref) {
  return t.shape() == Shape(ref.shape) && all_close(t, fx(ref), 1e-10, 1e-10);
}
// A symmetric positive-definite matrix from a free one, so finite differences stay symmetric.
Tensor spd(const Tensor& x) { return matmul(x, transpose(x, -1, -2)) + 0.5 * diag_embed(ones({x.size(-1)}, DType::f64)); }
}  // namespace

TEST_CASE("diagonal, diag_embed, tril and triu: values, shapes and gradients") {
  const Tensor x = reshape(arange(0, 12, 1, DType::f64), {2, 2, 3});
  CHECK(diagonal(x).to_vector<double>() == std::vector<double>{0, 4, 6, 10});
  CHECK(diagonal(x).shape() == Shape{2, 2});
  CHECK(diag_embed(tensor({1, 2}, {2}, DType::f64)).to_vector<double>() == std::vector<double>{1, 0, 0, 2});
  const Tensor m = reshape(arange(1, 10, 1, DType::f64), {3, 3});
  CHECK(tril(m).to_vector<double>() == std::vector<double>{1, 0, 0, 4, 5, 0, 7, 8, 9});
  CHECK(tril(m, -1).to_vector<double>() == std::vector<double>{0, 0, 0, 4, 0, 0, 7, 8, 0});
  CHECK(triu(m, 1).to_vector<double>() == std::vector<double>{0, 2, 3, 0, 0, 6, 0, 0, 0});
  Generator gen(1);
  CHECK(gradcheck([](auto& in) { return diagonal(in[0]); }, {uniform({2, 3, 2}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return diagonal(in[0]); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return diag_embed(in[0]); }, {uniform({2, 3}, gen, -1, 1)}));
  CHECK(gradcheck([](auto& in) { return tril(in[0], 1) + triu(in[0], 1); }, {uniform({3, 3}, gen, -1, 1)}));
  CHECK_ERROR_HAS(diagonal(ones({3})), "diagonal: needs  [..., n, n] matrices, got shape [3]");
  CHECK_ERROR_HAS(diag_embed(Tensor()), "diag_embed: needs a floating tensor [..., n], got undefined");
  CHECK_ERROR_HAS(tril(tensor(std::vector<int>{1, 2, 3, 4}, {2, 2}, DType::i64)), "tril: needs a floating tensor, got i64");
}

TEST_CASE("cholesky matches torch.linalg.cholesky, values and gradient, batched") {
  const Tensor a = fx(lf::spd).requires_grad_();
  const Tensor l = cholesky(a);
  CHECK(matches(l, lf::cholesky));
  CHECK(all_close(matmul(l, transpose(l, -1, -2)), a.detach(), 1e-12, 1e-12));
  sum(l * fx(lf::weights)).backward();
  CHECK(matches(a.grad(), lf::cholesky_grad));
  Generator gen(2);
  CHECK(gradcheck([](auto& in) { return cholesky(spd(in[0])); }, {uniform({2, 3, 3}, gen, -1, 1)}));
  CHECK(gradgradcheck([](auto& in) { return cholesky(spd(in[0])); }, {uniform({3, 3}, gen, -1, 1)}));
}

TEST_CASE("cholesky refuses a matrix that is not positive definite, naming the batch element and the minor") {
  const Tensor bad = tensor({4, 0, 0, 1, 0, 0, 0, 0, -1}, {1, 3, 3}, DType::f64);
  CHECK_ERROR_HAS(cholesky(cat({diag_embed(ones({1, 3}, DType::f64)), bad}, 0)),
                  "cholesky: matrix 1 of the batch (shape [2, 3, 3]) is not positive definite: its leading minor of "
                  "order 2 is not positive");
  CHECK_ERROR_HAS(cholesky(ones({2, 3})), "cholesky: needs square [..., n, n] matrices, got shape [2, 3]");
}

TEST_CASE("solve_triangular matches torch: lower, upper, broadcast batch, gradients") {
  const Tensor l = fx(lf::cholesky), b = fx(lf::rhs), v = fx(lf::rhs_weights);
  struct Case {
    bool upper;
    const lf::Array &x, &ga, &gb;
  };
  for (const Case& c : {Case{false, lf::solve_lower, lf::solve_lower_grad_a, lf::solve_lower_grad_b},
                        Case{true, lf::solve_upper, lf::solve_upper_grad_a, lf::solve_upper_grad_b}}) {
    const Tensor a = (c.upper ? transpose(l, -1, -2) : l).clone().requires_grad_();
    const Tensor bg = b.clone().requires_grad_();
    const Tensor x = solve_triangular(a, bg, c.upper);
    CHECK(matches(x, c.x));
    CHECK(all_close(matmul(a.detach(), x.detach()), b, 1e-12, 1e-12));
    sum(x * v).backward();
    CHECK(matches(a.grad(), c.ga));
    CHECK(matches(bg.grad(), c.gb));
  }
  const Tensor a0 = select(l, 0, 0).clone().requires_grad_();
  const Tensor bg = b.clone().requires_grad_();
  const Tensor x = solve_triangular(a0, bg, false);
  CHECK(matches(x, lf::solve_bcast));
  sum(x * v).backward();
  CHECK(matches(a0.grad(), lf::solve_bcast_grad_a));
  CHECK(matches(bg.grad(), lf::solve_bcast_grad_b));
  Generator gen(3);
  const Tensor diag = diag_embed(full({3}, 2.0, DType::f64));  // keeps the random triangles well conditioned
  for (bool upper : {false, true}) {
    auto f = [&, upper](auto& in) { return solve_triangular((upper ? triu(in[0]) : tril(in[0])) + diag, in[1], upper); };
    CHECK(gradcheck(f, {uniform({2, 3, 3}, gen, -0.5, 0.5), uniform({2, 3, 2}, gen, -1, 1)}));
    CHECK(gradgradcheck(f, {uniform({3, 3}, gen, -0.5, 0.5), uniform({3, 2}, gen, -1, 1)}));
  }
  CHECK_ERROR_HAS(solve_triangular(ones({3, 3}), ones({2, 1}), false),
                  "solve_triangular: A [3, 3] and B [2, 1] do not fit");
}
