#include "autograd/gradcheck.h"

#include <cmath>
#include <iostream>

#include "autograd/ops.h"

namespace elbo {

std::string gradcheck_report(const GradcheckFn& fn, const std::vector<Tensor>& inputs0, GradcheckOptions o) {
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < inputs0.size(); ++i) {
    const Tensor& t = inputs0[i];
    ELBO_CHECK(t.defined(), "gradcheck: input {} is undefined", i);
    ELBO_CHECK(t.dtype() != DType::f32, "gradcheck: input {} is f32 {}; gradcheck runs in f64 (use .to(DType::f64))",
               i, t.shape());
    Tensor c = t.detach().clone();
    if (c.dtype() == DType::f64) c.requires_grad_(true);
    inputs.push_back(c);
  }
  auto eval = [&] {
    std::vector<Tensor> in = inputs;
    Tensor y = fn(in);
    ELBO_CHECK(y.defined() && y.dtype() == DType::f64, "gradcheck: the function must return an f64 tensor");
    return y;
  };
  const Tensor y0 = eval();
  const int64_t ny = y0.numel();
  // Analytic Jacobian, row r = d y_r / d inputs, from one backward per output element.
  std::vector<std::vector<double>> analytic(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) analytic[i].assign(size_t(ny * inputs[i].numel()), 0.0);
  for (int64_t r = 0; r < ny; ++r) {
    for (Tensor& t : inputs)
      if (t.dtype() == DType::f64) t.set_grad(Tensor());
    Tensor y = eval();
    if (!y.requires_grad()) break;  // constant function: analytic stays 0
    Tensor pick = zeros({ny}, DType::f64);
    pick.data<double>()[r] = 1;
    sum(reshape(y, {ny}) * pick).backward();
    for (size_t i = 0; i < inputs.size(); ++i) {
      Tensor g = inputs[i].dtype() == DType::f64 ? inputs[i].grad() : Tensor();
      if (!g.defined()) continue;
      const double* pg = g.data<const double>();
      for (int64_t j = 0; j < inputs[i].numel(); ++j) analytic[i][size_t(r * inputs[i].numel() + j)] = pg[j];
    }
  }
  // Numeric Jacobian by central differences, one input element at a time.
  NoGradGuard ng;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::f64) continue;
    double* x = inputs[i].data<double>();
    const int64_t nx = inputs[i].numel();
    for (int64_t j = 0; j < nx; ++j) {
      const double saved = x[j];
      x[j] = saved + o.eps;
      const std::vector<double> up = eval().to_vector<double>();
      x[j] = saved - o.eps;
      const std::vector<double> down = eval().to_vector<double>();
      x[j] = saved;
      for (int64_t r = 0; r < ny; ++r) {
        const double num = (up[size_t(r)] - down[size_t(r)]) / (2 * o.eps);
        const double ana = analytic[i][size_t(r * nx + j)];
        if (!(std::abs(ana - num) <= o.atol + o.rtol * std::abs(num))) {
          std::string msg = fmt::format(
              "gradcheck: mismatch for input {} (shape {}) at element {}, output element {}: analytic {:.10g}, "
              "numeric {:.10g} (difference {:.3g}, allowed {:.3g})",
              i, inputs[i].shape(), j, r, ana, num, std::abs(ana - num), o.atol + o.rtol * std::abs(num));
          if (o.print) std::cerr << msg << '\n';
          return msg;
        }
      }
    }
  }
  return {};
}

bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts) {
  return gradcheck_report(fn, inputs, opts).empty();
}

}  // namespace elbo
