#pragma once
// gradcheck: compares the tape's gradients with central finite differences, in float64 end to end,
// over the full Jacobian (one backward per output element, two forwards per input element). Inputs
// must be f64 (i64 inputs are passed through); they are cloned, so the caller's tensors are untouched.
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
};

using GradcheckFn = std::function<Tensor(std::vector<Tensor>&)>;

// Empty if the gradients match; otherwise names the input, the element index, analytic and numeric.
std::string gradcheck_report(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});
bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts = {});

}  // namespace elbo
