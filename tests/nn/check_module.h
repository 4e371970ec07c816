#pragma once
// check_module: the gradient of every parameter of a module (and of its input) against central finite
// differences in float64, dlib-style. Loss = sum(forward(x) * r) for a fixed random r; each parameter
// element is perturbed in place by +-eps and restored.
#include <string>

#include "test_util.h"

namespace elbo::testing {

template <class M> std::string check_module(M& m, const Tensor& x_in, Generator& gen, double eps = 1e-6,
                                            double rtol = 1e-6, double atol = 1e-8) {
  m.to(DType::f64);
  Tensor x = x_in.detach().to(DType::f64).clone().detach();
  x.requires_grad_(true);
  m.zero_grad();
  Tensor y = m.forward(x);
  const Tensor r = uniform(y.shape(), gen, -1, 1);
  sum(y * r).backward();
  auto loss = [&] {
    NoGradGuard guard;
    return sum(m.forward(x) * r).item();
  };
  auto check = [&](const std::string& name, const Tensor& p) -> std::string {
    const Tensor g = p.grad();
    if (!g.defined()) return name + ": no gradient";
    const std::vector<double> analytic = g.to_vector<double>();
    double* v = p.data<double>();
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double saved = v[i];
      v[i] = saved + eps;
      const double up = loss();
      v[i] = saved - eps;
      const double down = loss();
      v[i] = saved;
      const double numeric = (up - down) / (2 * eps);
      if (std::abs(analytic[size_t(i)] - numeric) > atol + rtol * std::abs(numeric))
        return fmt::format("{}[{}]: analytic {} numeric {}", name, i, analytic[size_t(i)], numeric);
    }
    return "";
  };
  for (auto& [name, p] : m.named_parameters())
    if (auto err = check(name, p); !err.empty()) return err;
  return check("input", x);
}

}  // namespace elbo::testing
