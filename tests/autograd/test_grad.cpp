// autograd::grad (functional gradients, as torch.autograd.grad) and backward(retain_graph).
#include "test_util.h"

using namespace elbo;
using elbo::testing::all_close;

TEST_CASE("autograd::grad returns d outputs / d inputs and leaves .grad alone") {
  Tensor x = tensor({1, -2, 3}, {3}, DType::f64).requires_grad_();
  const Tensor h = x * 3.0;
  const Tensor y = sum(square(h));
  const std::vector<Tensor> g = autograd::grad({y}, {x, h}, {.retain_graph = true});
  CHECK(all_close(g[0], x.detach() * 18.0, 1e-12, 1e-12));  // d/dx (3x)^2 = 18 x
  CHECK(all_close(g[1], h.detach() * 2.0, 1e-12, 1e-12));   // a non-leaf input: d/dh h^2 = 2h
  CHECK_FALSE(x.grad().defined());
  // the graph was kept: a second pass through it works, and backward still accumulates on the leaf
  y.backward();
  CHECK(all_close(x.grad(), x.detach() * 18.0, 1e-12, 1e-12));
  CHECK_ERROR_HAS(autograd::grad({y}, {x}), "was already used by an earlier backward()");
}

TEST_CASE("autograd::grad: several outputs with grad_outputs, unused inputs, errors") {
  Tensor a = tensor({1, 2}, {2}, DType::f64).requires_grad_(), b = tensor({3, 4}, {2}, DType::f64).requires_grad_();
  const Tensor u = a * b, v = exp(a);
  const std::vector<Tensor> g =
      autograd::grad({u, v}, {a, b}, {.grad_outputs = {ones({2}, DType::f64), full({2}, 2.0, DType::f64)}});
  CHECK(all_close(g[0], b.detach() + 2.0 * exp(a.detach()), 1e-12, 1e-12));
  CHECK(all_close(g[1], a.detach(), 1e-12, 1e-12));
  Tensor c = ones({2}, DType::f64).requires_grad_();
  const Tensor w = sum(a * 2.0);
  CHECK_ERROR_HAS(autograd::grad({w}, {c}, {.retain_graph = true}), "autograd::grad: input 0 [2] is not used");
  CHECK_FALSE(autograd::grad({w}, {c}, {.retain_graph = true, .allow_unused = true})[0].defined());
  CHECK_ERROR_HAS(autograd::grad({a * 2.0}, {a}), "output 0 has shape [2]; give grad_outputs");
  CHECK_ERROR_HAS(autograd::grad({w}, {ones({2})}), "input 0 does not require grad");
}

TEST_CASE("backward(retain_graph) runs a graph twice; gradients accumulate") {
  Tensor x = tensor({0.5, 1.5}, {2}, DType::f64).requires_grad_();
  const Tensor y = sum(x * x);
  y.backward(true);
  y.backward();
  CHECK(all_close(x.grad(), x.detach() * 4.0, 1e-12, 1e-12));
  CHECK_ERROR_HAS(y.backward(), "was already used by an earlier backward()");
}
