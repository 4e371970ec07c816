#pragma once
// gradcheck: compares the tape's gradients with central finite differences, in float64 end to end,
// over the full Jacobian (one backward per output element, two forwards per input element). Inputs
// must be f64 (i64 inputs are passed through); they are cloned, so the caller's tensors are untouched.
// An f64 input the output does not depend on fails the check (a function that reads its own copy, say a
// module's weight, would otherwise pass); allow_unused = true accepts it. gradcheck_params checks tensors
// the function reads itself, such as a module's parameters: they are perturbed in place and restored.
// Keep inputs away from kinks (relu at 0, abs at 0): finite differences are wrong there.
#include <functional>
#include <string>
#include <vector>

#include "tensor.h"

namespace elbo {

struct GradcheckOptions {
  double eps = 1e-6;   // perturbation
  double rtol = 1e-6;  // |analytic - numeric| <= atol + rtol * |numeric|
  double atol = 1e-8;
  bool print = true;   // print the first mismatch to stderr
  bool allow_unused = false;  // accept an input that has no effect on the output
};

using GradcheckFn = std::function<Tensor(std::vector<Tensor>&)>;

// Empty if the gradients match; otherwise names the input, the element index, analytic and numeric.
std::string gradcheck_report(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});
bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});
// params: f64 leaves that require grad, e.g. gradcheck_params([&] { return net.forward(x); }, net.parameters())
// after net.to(DType::f64). Their values and gradients are as before when it returns.
std::string gradcheck_params_report(const std::function<Tensor()>& fn, const std::vector<Tensor>& params,
                                    GradcheckOptions opts = {});
bool gradcheck_params(const std::function<Tensor()>& fn, const std::vector<Tensor>& params, GradcheckOptions opts = {});

// Second derivatives: the gradient of fn's output contracted with a fixed random grad_output v (drawn
// from a seeded generator), computed with create_graph as autograd::grad gives it, is itself
// gradchecked against finite differences, as torch.autograd.gradgradcheck. An input the gradient does
// not depend on is fine here (fn may be linear in it). Every op in fn must allow double backward
// (autograd::double_backward_ops()).
std::string gradgradcheck_report(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});
bool gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});

}  // namespace elbo
