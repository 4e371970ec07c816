#pragma once
// Derivatives of a function as values, as torch.autograd.functional: the Jacobian of f at x, its Hessian,
// and Hessian-vector products. x is any floating tensor; the functions differentiate a copy of it that
// requires grad, so x itself need not. With create_graph the results carry a graph (back to x when x
// requires grad), for one more derivative. Every op in f must allow double backward for hessian and
// hessian_vector_product (autograd::double_backward_ops()).
#include <functional>

#include "tensor.h"

namespace elbo::autograd {

using TensorFn = std::function<Tensor(const Tensor&)>;

struct JacobianOptions {
  bool create_graph = false;
};

// d f(x) / d x as one tensor of shape [*f(x).shape, *x.shape]: one backward pass per output element.
Tensor jacobian(const TensorFn& f, const Tensor& x, const JacobianOptions& options = {});

// The Hessian of a scalar f (one element) at x: [*x.shape, *x.shape], one backward per element of x.
Tensor hessian(const TensorFn& f, const Tensor& x, const JacobianOptions& options = {});

struct HessianVectorProduct {
  Tensor value;  // f(x), detached
  Tensor hvp;    // H(x) v, x's shape
};
// H(x) v for a scalar f without forming H: two backward passes (the gradient with create_graph, then its
// product with v), as torch.autograd.functional.hvp.
HessianVectorProduct hessian_vector_product(const TensorFn& f, const Tensor& x, const Tensor& v);

}  // namespace elbo::autograd
