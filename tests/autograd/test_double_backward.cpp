// Higher-order gradients: autograd::grad with create_graph, gradgradcheck of every op that allows it,
// jacobian / hessian / hessian_vector_product against torch.autograd.functional.
#include <map>
#include <set>
#include <string>

#include "autograd/ops/derivatives.h"
#include "fixtures/double_backward_fixtures.h"
#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;
using elbo::testing::uniform;

namespace {
namespace dbf = elbo::double_backward_fixtures;
Tensor fx(const dbf::Array& a, DType d = DType::f64) { return tensor(a.values, a.shape, d); }
bool matches(const Tensor& t, const dbf::Array& ref) {
  return t.shape() == Shape(ref.shape) && all_close(t, fx(ref), 1e-10, 1e-10);
}
}  // namespace

TEST_CASE("create_graph: the second derivative of x^3 is 6x, and a third is 6") {
  Tensor x = tensor({0.5, -2}, {2}, DType::f64).requires_grad_();
  const Tensor y = sum(x * x * x);
  const Tensor g = autograd::grad({y}, {x}, {.create_graph = true})[0];
  CHECK(g.requires_grad());
  CHECK(all_close(g, 3.0 * square(x.detach()), 1e-12, 1e-12));
  const Tensor h = autograd::grad({sum(g)}, {x}, {.create_graph = true})[0];
  CHECK(all_close(h, 6.0 * x.detach(), 1e-12, 1e-12));
  const Tensor t = autograd::grad({sum(h)}, {x})[0];
  CHECK(all_close(t, full({2}, 6.0, DType::f64), 1e-12, 1e-12));
  // the first graph was kept (create_graph implies retain_graph): backward through it still works
  y.backward();
  CHECK(all_close(x.grad(), 3.0 * square(x.detach()), 1e-12, 1e-12));
}

TEST_CASE("gradgradcheck covers every op that allows double backward") {
  Generator gen(7);
  auto u = [&](const Shape& s, double lo = -1, double hi = 1) { return uniform(s, gen, lo, hi); };
  const Tensor idx = tensor(std::vector<int>{2, 0, 2}, {3}, DType::i64);
  const Tensor idx2 = tensor(std::vector<int>{1, 0, 2, 2, 1, 0}, {2, 3}, DType::i64);
  const Tensor pos = tensor(std::vector<int>{5, 0, 5, 2}, {4}, DType::i64);  // flat positions, one repeated
  using Fn = std::function<Tensor(std::vector<Tensor>&)>;
  struct Case {
    Fn f;
    std::vector<Tensor> inputs;
  };
  // Each op is composed with a curved op (times itself, or exp) where it is linear, so its backward must
  // pass a graph on for the second derivative to come out right.
  const std::map<std::string, Case> cases = {
      {"neg", {[](auto& in) { return square(-in[0]); }, {u({3})}}},
      {"exp", {[](auto& in) { return exp(in[0]); }, {u({3})}}},
      {"log", {[](auto& in) { return log(in[0]); }, {u({3}, 0.5, 2)}}},
      {"log1p", {[](auto& in) { return log1p(in[0]); }, {u({3}, -0.5, 2)}}},
      {"expm1", {[](auto& in) { return expm1(in[0]); }, {u({3})}}},
      {"sqrt", {[](auto& in) { return sqrt(in[0]); }, {u({3}, 0.5, 2)}}},
      {"square", {[](auto& in) { return square(in[0]); }, {u({3})}}},
      {"abs", {[](auto& in) { return abs(in[0]) * in[0]; }, {u({3}, 0.2, 1) * tensor({1, -1, 1}, {3}, DType::f64)}}},
      {"sigmoid", {[](auto& in) { return sigmoid(in[0]); }, {u({3}, -2, 2)}}},
      {"tanh", {[](auto& in) { return tanh(in[0]); }, {u({3}, -2, 2)}}},
      {"relu", {[](auto& in) { return relu(in[0]) * in[0]; }, {tensor({-0.7, 0.4, 1.1}, {3}, DType::f64)}}},
      {"softplus", {[](auto& in) { return softplus(in[0]); }, {u({3}, -3, 3)}}},
      {"log_sigmoid", {[](auto& in) { return log_sigmoid(in[0]); }, {u({3}, -3, 3)}}},
      {"elu", {[](auto& in) { return elu(in[0], 0.7); }, {tensor({-0.7, 0.4, -1.1}, {3}, DType::f64)}}},
      {"leaky_relu", {[](auto& in) { return leaky_relu(in[0], 0.1) * in[0]; }, {tensor({-0.7, 0.4, 1.1}, {3}, DType::f64)}}},
      {"clamp", {[](auto& in) { return square(clamp(in[0], -0.5, 0.5)); }, {tensor({-0.7, 0.3, -0.2}, {3}, DType::f64)}}},
      {"erf", {[](auto& in) { return erf(in[0]); }, {u({3})}}},
      {"erfinv", {[](auto& in) { return erfinv(in[0]); }, {u({3}, -0.8, 0.8)}}},
      {"add", {[](auto& in) { return square(in[0] + in[1]); }, {u({2, 3}), u({3})}}},
      {"sub", {[](auto& in) { return square(in[0] - in[1]); }, {u({2, 3}), u({2, 1})}}},
      {"mul", {[](auto& in) { return in[0] * in[1] * in[0]; }, {u({2, 3}), u({3})}}},
      {"div", {[](auto& in) { return in[0] / in[1]; }, {u({2, 3}), u({3}, 0.5, 2)}}},
      {"pow", {[](auto& in) { return pow(in[0], in[1]) + pow(in[0], 2.5); }, {u({3}, 0.5, 2), u({3})}}},
      {"maximum", {[](auto& in) { return square(maximum(in[0], in[1])); }, {u({3}), u({3})}}},
      {"minimum", {[](auto& in) { return square(minimum(in[0], in[1])); }, {u({3}), u({3})}}},
      {"where", {[](auto& in) { return square(where(gt(in[0], zeros({})), in[0], in[1])); },
                 {tensor({-0.7, 0.4, 1.1}, {3}, DType::f64), u({3})}}},
      {"remainder", {[](auto& in) { return square(remainder(in[0], in[1])); },
                     {tensor({2.3, -1.7, 5.2}, {3}, DType::f64), tensor({1.5, 1.1, 2.0}, {3}, DType::f64)}}},
      {"sum", {[](auto& in) { return square(sum(square(in[0]), {1})) + sum(exp(in[0])); }, {u({2, 3})}}},
      {"max", {[](auto& in) { return square(max(in[0], 1)); }, {u({2, 3})}}},
      {"min", {[](auto& in) { return square(min(in[0], 0, true)); }, {u({2, 3})}}},
      {"logsumexp", {[](auto& in) { return logsumexp(in[0], 1); }, {u({2, 3})}}},
      {"matmul", {[](auto& in) { return square(matmul(in[0], in[1])); }, {u({2, 2, 3}), u({3, 2})}}},
      {"linear", {[](auto& in) { return square(linear(in[0], in[1], in[2])); }, {u({2, 3}), u({4, 3}), u({4})}}},
      {"binary_cross_entropy_with_logits",
       {[](auto& in) { return binary_cross_entropy_with_logits(in[0], in[1], Reduction::none); }, {u({3}, -2, 2), u({3}, 0, 1)}}},
      {"binary_cross_entropy_with_logits_sum",
       {[](auto& in) { return square(binary_cross_entropy_with_logits_sum(in[0], in[1], 1)); },
        {u({2, 3}, -2, 2), u({2, 3}, 0, 1)}}},
      {"reshape", {[](auto& in) { return exp(reshape(in[0], {3, 2})); }, {u({2, 3})}}},
      {"expand", {[](auto& in) { return exp(expand(in[0], {2, 3})); }, {u({1, 3})}}},
      {"permute", {[](auto& in) { return exp(permute(in[0], {1, 0})); }, {u({2, 3})}}},
      {"cat", {[](auto& in) { return exp(cat({in[0], in[1]}, 1)); }, {u({2, 3}), u({2, 1})}}},
      {"narrow", {[](auto& in) { return exp(narrow(in[0], 1, 1, 2)); }, {u({2, 3})}}},
      {"gather", {[&](auto& in) { return exp(gather(in[0], 1, idx2)); }, {u({2, 3})}}},
      {"index_select", {[&](auto& in) { return exp(index_select(in[0], 1, idx)); }, {u({2, 3})}}},
      {"index_add", {[&](auto& in) { return exp(index_add(in[0], 1, idx, in[1])); }, {u({2, 3}), u({2, 3})}}},
      {"scatter_add", {[&](auto& in) { return exp(scatter_add(in[0], 1, narrow(idx2, 1, 0, 2), in[1])); },
                       {u({2, 3}), u({2, 3})}}},
      {"clone", {[](auto& in) { return exp(in[0].clone()); }, {u({3})}}},
      {"to", {[](auto& in) { return exp(in[0].to(DType::f64)) * in[0]; }, {u({3})}}},
      {"diagonal", {[](auto& in) { return exp(diagonal(in[0])); }, {u({2, 3, 3})}}},
      {"diag_embed", {[](auto& in) { return exp(diag_embed(in[0])); }, {u({2, 3})}}},
      {"tril", {[](auto& in) { return exp(tril(in[0])); }, {u({3, 3})}}},
      {"triu", {[](auto& in) { return exp(triu(in[0], 1)); }, {u({3, 3})}}},
      {"cholesky", {[](auto& in) { return cholesky(matmul(in[0], transpose(in[0], 0, 1)) + 0.5 * diag_embed(ones({3}, DType::f64))); },
                    {u({3, 3})}}},
      {"solve_triangular", {[](auto& in) { return solve_triangular(tril(in[0]) + 2.0 * diag_embed(ones({3}, DType::f64)), in[1], false); },
                            {u({3, 3}, -0.5, 0.5), u({3, 2})}}},
      // the backward formulas recorded as ops of their own (autograd/ops/derivatives.h): a third
      // derivative of the ops above
      {"sigmoid_backward", {[](auto& in) { return square(detail::sigmoid_backward(in[0], in[1])); },
                            {u({3}), u({3}, 0.1, 0.9)}}},
      {"tanh_backward", {[](auto& in) { return square(detail::tanh_backward(in[0], in[1])); }, {u({3}), u({3}, -0.9, 0.9)}}},
      {"relu_backward", {[](auto& in) { return square(detail::relu_backward(in[0], in[1])); },
                         {u({3}), tensor({-0.5, 0.4, 1.1}, {3}, DType::f64)}}},
      {"binary_cross_entropy_with_logits_backward",
       {[](auto& in) { return square(detail::bce_logits_backward(in[0], in[1], in[2])); },
        {u({2, 3}), u({2, 3}, -2, 2), u({2, 3}, 0, 1)}}},
      {"binary_cross_entropy_with_logits_sum_backward",
       {[](auto& in) { return square(detail::bce_logits_sum_backward(in[0], in[1], in[2])); },
        {u({2}), u({2, 3}, -2, 2), u({2, 3}, 0, 1)}}},
      {"mm", {[](auto& in) {
                return square(detail::mm(in[0], false, in[1], false)) + square(detail::mm(in[0], true, in[1], false)) +
                       square(detail::mm(in[0], false, in[1], true)) + square(detail::mm(in[0], true, in[1], true));
              },
              {u({2, 3, 3}), u({2, 3, 3})}}},
      {"narrow_backward", {[](auto& in) { return exp(detail::narrow_backward(in[0], {2, 4}, 1, 1)); }, {u({2, 2})}}},
      {"index_select_backward", {[&](auto& in) { return exp(detail::index_select_backward(in[0], idx, {2, 3}, 1)); },
                                 {u({2, 3})}}},
      {"take", {[&](auto& in) { return exp(detail::take(in[0], pos, {2, 2})); }, {u({2, 3})}}},
      {"put_add", {[&](auto& in) { return exp(detail::put_add(in[0], pos, {2, 3})); }, {u({4})}}},
  };
  std::set<std::string> listed;
  for (const char* op : autograd::double_backward_ops()) {
    listed.insert(op);
    INFO("op: ", std::string(op));
    const auto it = cases.find(op);
    REQUIRE_MESSAGE(it != cases.end(), "no gradgradcheck for ", op);
    CHECK(gradgradcheck(it->second.f, it->second.inputs));
  }
  for (const auto& [op, c] : cases) CHECK_MESSAGE(listed.count(op), op, " is tested but not listed");
}

TEST_CASE("gradgradcheck: composites of the listed ops (softmax, log_softmax, losses, normalization, gelu)") {
  Generator gen(11);
  auto u = [&](const Shape& s, double lo = -1, double hi = 1) { return uniform(s, gen, lo, hi); };
  const Tensor y = tensor(std::vector<int>{1, 0, 2}, {3}, DType::i64);
  CHECK(gradgradcheck([](auto& in) { return softmax(in[0], 1); }, {u({2, 3})}));
  CHECK(gradgradcheck([](auto& in) { return log_softmax(in[0], 0); }, {u({2, 3})}));
  CHECK(gradgradcheck([](auto& in) { return mean(square(in[0]), {0}); }, {u({2, 3})}));
  CHECK(gradgradcheck([&](auto& in) { return cross_entropy(in[0], y, {.label_smoothing = 0.1}); }, {u({3, 3})}));
  CHECK(gradgradcheck([&](auto& in) { return nll_loss(log_softmax(in[0], 1), y, {.weight = tensor({1, 2, 0.5}, {3}, DType::f64)}); },
                      {u({3, 3})}));
  CHECK(gradgradcheck([](auto& in) { return binary_cross_entropy_with_logits(in[0], in[1]); }, {u({2, 3}), u({2, 3}, 0, 1)}));
  CHECK(gradgradcheck([](auto& in) { return mse_loss(exp(in[0]), in[1]); }, {u({2, 3}), u({2, 3})}));
  CHECK(gradgradcheck([](auto& in) { return kl_div(log_softmax(in[0], 1), in[1], Reduction::batchmean); },
                      {u({2, 3}), u({2, 3}, 0.1, 1)}));
  CHECK(gradgradcheck([](auto& in) { return gelu(in[0]); }, {u({4}, -2, 2)}));
  CHECK(gradgradcheck([](auto& in) { return silu(in[0]); }, {u({4}, -2, 2)}));
  CHECK(gradgradcheck([](auto& in) { return layer_norm(in[0], {3}, in[1], in[2]); }, {u({2, 3}), u({3}), u({3})}));
}

TEST_CASE("gradgradcheck fails a backward whose derivative is wrong, and names the second derivative") {
  // A hand-made op whose first derivative is right but built from the saved output without a graph: the
  // second derivative it implies is 0, the true one is not.
  auto cube = [](const Tensor& x) {
    Tensor y = (x.detach() * x.detach() * x.detach()).detach();
    return record(Op{"cube", Differentiable::repeatedly}, y, {x},
                  [xs = x.detach()](const Tensor& gy) { return Grads{gy * 3.0 * xs * xs}; });
  };
  Generator gen(3);
  CHECK(gradcheck([&](auto& in) { return cube(in[0]); }, {uniform({3}, gen, 0.5, 1)}));
  const std::string r = gradgradcheck_report([&](auto& in) { return cube(in[0]); }, {uniform({3}, gen, 0.5, 1)},
                                             {.print = false});
  CHECK(r.find("gradgradcheck (second derivatives): gradcheck: mismatch for input 0") != std::string::npos);
}

TEST_CASE("an op declared differentiable whose backward runs an unrecorded kernel is caught under create_graph") {
  auto bad = [](const Tensor& x) {
    return record(Op{"bad", Differentiable::repeatedly}, x.detach() * 2.0, {x}, [](const Tensor& gy) {
      return Grads{(gy * 2.0).detach()};  // right first derivative, but no graph
    });
  };
  Tensor x = tensor({0.5, -1.0}, {2}, DType::f64).requires_grad_();
  const Tensor y = sum(square(bad(x)));
  CHECK_ERROR_HAS(autograd::grad({y}, {x}, {.create_graph = true}),
                  "the backward of 'bad' is declared differentiable (op_table.h) but computed the gradient of input 0 "
                  "with an unrecorded kernel");
  CHECK(all_close(autograd::grad({y}, {x})[0], 8.0 * x.detach(), 1e-12, 1e-12));  // first order still works
}

TEST_CASE("double_backward_ops is the op table's differentiable rows") {
  std::set<std::string> listed(autograd::double_backward_ops().begin(), autograd::double_backward_ops().end());
  size_t repeatable = 0;
  for (const Op& op : recorded_ops()) {
    INFO("op: ", std::string(op.name));
    CHECK(listed.count(op.name) == (op.backward == Differentiable::repeatedly ? 1u : 0u));
    repeatable += op.backward == Differentiable::repeatedly;
  }
  CHECK(listed.size() == repeatable);
  CHECK(listed.count("mm") == 1);
  CHECK(listed.count("conv2d") == 0);
}

TEST_CASE("create_graph through an op without double backward is an error that names it") {
  Generator gen(5);
  Tensor x = uniform({1, 1, 4, 4}, gen, -1, 1).requires_grad_();
  const Tensor w = uniform({2, 1, 3, 3}, gen, -1, 1);
  const Tensor y = sum(square(conv2d(x, w)));
  CHECK_ERROR_HAS(autograd::grad({y}, {x}, {.create_graph = true}),
                  "autograd::grad (create_graph): the backward of 'conv2d' is not differentiable yet");
  // without create_graph the same graph differentiates as before
  CHECK(autograd::grad({y}, {x})[0].shape() == x.shape());
}

TEST_CASE("hessian, hessian_vector_product and jacobian match torch.autograd.functional") {
  const Tensor x = fx(dbf::x), W = fx(dbf::W), b = fx(dbf::b), c = fx(dbf::c), v = fx(dbf::v);
  auto scalar_fn = [&](const Tensor& z) {
    return sum(softplus(matmul(W, z) + b) * c) + logsumexp(z, 0) + 0.5 * sum(pow(z, 2.0) * tanh(z)) +
           sum(sigmoid(z) / (1.0 + pow(z, 2.0)));
  };
  CHECK(matches(scalar_fn(x), dbf::scalar_value));
  const Tensor H = autograd::hessian(scalar_fn, x);
  CHECK(matches(H, dbf::scalar_hessian));
  CHECK(all_close(H, transpose(H, 0, 1), 1e-12, 1e-12));
  const auto hv = autograd::hessian_vector_product(scalar_fn, x, v);
  CHECK(matches(hv.hvp, dbf::scalar_hvp));
  CHECK(matches(hv.value, dbf::scalar_value));
  CHECK_FALSE(x.requires_grad());  // the caller's tensor is untouched
  CHECK(matches(autograd::jacobian([&](const Tensor& z) { return tanh(matmul(W, z) + b); }, x), dbf::tanh_jacobian));
}

TEST_CASE("a planar flow's Jacobian and log-determinant, and a gradient penalty, match torch") {
  const Tensor x = fx(dbf::x), u = fx(dbf::planar_u), w = fx(dbf::planar_w);
  const Tensor J = autograd::jacobian([&](const Tensor& z) { return z + u * tanh(sum(w * z) + 0.3); }, x);
  CHECK(matches(J, dbf::planar_jacobian));
  // det(I + u psi^T) = 1 + psi . u, psi = (1 - tanh^2(w.z + s)) w (the matrix determinant lemma)
  const double t = std::tanh(sum(w * x).item() + 0.3);
  CHECK(std::log(std::abs(1 + (1 - t * t) * sum(w * u).item())) == doctest::Approx(fx(dbf::planar_logabsdet).item()).epsilon(1e-12));

  // gp = |d loss / d X|^2 with loss = cross_entropy(X W^T + b, y): d gp / d W needs the gradient's graph
  Tensor Wg = fx(dbf::W).requires_grad_(), bg = fx(dbf::b).requires_grad_();
  Tensor X = fx(dbf::gp_X).requires_grad_();
  const Tensor loss = cross_entropy(linear(X, Wg, bg), fx(dbf::gp_y, DType::i64));
  const Tensor gx = autograd::grad({loss}, {X}, {.create_graph = true})[0];
  const Tensor gp = sum(square(gx));
  CHECK(matches(gp, dbf::gp_value));
  gp.backward();
  CHECK(matches(Wg.grad(), dbf::gp_grad_W));
  CHECK(matches(bg.grad(), dbf::gp_grad_b));
}

TEST_CASE("jacobian and hessian: shapes, create_graph, unused inputs and errors") {
  const Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f64);
  const Tensor J = autograd::jacobian([](const Tensor& z) { return sum(z * z, {1}); }, x);
  CHECK(J.shape() == Shape{2, 2, 3});
  CHECK(J.to_vector<double>() == std::vector<double>{2, 4, 6, 0, 0, 0, 0, 0, 0, 8, 10, 12});
  // a constant function: zeros, not an error
  CHECK(autograd::jacobian([](const Tensor&) { return ones({2}, DType::f64); }, x).to_vector<double>() ==
        std::vector<double>(12, 0.0));
  // create_graph: the Jacobian is differentiable back to an x that requires grad
  Tensor xg = tensor({0.5, -1}, {2}, DType::f64).requires_grad_();
  const Tensor Jg = autograd::jacobian([](const Tensor& z) { return exp(z); }, xg, {.create_graph = true});
  sum(Jg).backward();  // d/dx of sum(diag(e^x)) = e^x
  CHECK(all_close(xg.grad(), exp(xg.detach()), 1e-12, 1e-12));
  // the Hessian of a quadratic form x^T A x is A + A^T
  const Tensor A = tensor({1, 2, 0, 3}, {2, 2}, DType::f64);
  const Tensor H = autograd::hessian([&](const Tensor& z) { return sum(z * matmul(A, z)); }, tensor({0.3, 0.7}, {2}, DType::f64));
  CHECK(H.to_vector<double>() == std::vector<double>{2, 2, 2, 6});
  CHECK_ERROR_HAS(autograd::hessian([](const Tensor& z) { return z; }, x), "hessian: the function must return one element");
  CHECK_ERROR_HAS(autograd::hessian_vector_product([](const Tensor& z) { return sum(z); }, x, ones({3}, DType::f64)),
                  "hessian_vector_product: v has shape [3], x has [2, 3]");
  CHECK_ERROR_HAS(autograd::jacobian([](const Tensor& z) { return z; }, tensor(std::vector<int>{1}, {1}, DType::i64)),
                  "jacobian: x must be a floating tensor");
}

TEST_CASE("a long chain whose closures hold their inputs frees without recursion") {
  const Tensor s = full({1}, 1.0000001, DType::f64);
  Tensor x = full({1}, 0.5, DType::f64).requires_grad_();
  for (bool run_backward : {false, true}) {
    Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = y * s;  // mul's closure holds its linked input y
    if (run_backward) {
      sum(y).backward();
      CHECK(x.grad().item() == doctest::Approx(std::pow(1.0000001, 100000)));
    }
  }  // the graph is dropped here, the first time with every closure still alive
}
