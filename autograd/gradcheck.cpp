#include "autograd/gradcheck.h"

#include <cmath>
#include <iostream>

#include "autograd/ops.h"

namespace elbo {
namespace {

// The check itself: `inputs` are f64 leaves requiring grad (i64 ones are skipped), perturbed in place by
// the numeric pass and restored; eval() recomputes the output from them.
std::string check(const std::function<Tensor()>& eval0, std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  auto eval = [&] {
    Tensor y = eval0();
    ELBO_CHECK(y.defined() && y.dtype() == DType::f64, "gradcheck: the function must return an f64 tensor");
    return y;
  };
  auto fail = [&](std::string msg) {
    if (o.print) std::cerr << msg << '\n';
    return msg;
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
  for (Tensor& t : inputs)
    if (t.dtype() == DType::f64) t.set_grad(Tensor());
  // Numeric Jacobian by central differences, one input element at a time.
  NoGradGuard ng;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].dtype() != DType::f64) continue;
    double* x = inputs[i].data<double>();
    const int64_t nx = inputs[i].numel();
    bool moves = nx == 0 || ny == 0;  // does the output depend on this input at all?
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
        moves = moves || up[size_t(r)] != down[size_t(r)] || ana != 0;
        if (!(std::abs(ana - num) <= o.atol + o.rtol * std::abs(num)))
          return fail(fmt::format(
              "gradcheck: mismatch for input {} (shape {}) at element {}, output element {}: analytic {:.10g}, "
              "numeric {:.10g} (difference {:.3g}, allowed {:.3g})",
              i, inputs[i].shape(), j, r, ana, num, std::abs(ana - num), o.atol + o.rtol * std::abs(num)));
      }
    }
    if (!moves && !o.allow_unused)
      return fail(fmt::format("gradcheck: input {} (shape {}) has no effect on the output: the function ignores it "
                              "(does it read its own copy, such as a module's weight, instead of the input?); "
                              "pass allow_unused = true if that is meant",
                              i, inputs[i].shape()));
  }
  return {};
}

}  // namespace

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
  return check([&] {
    std::vector<Tensor> in = inputs;
    return fn(in);
  }, inputs, o);
}

bool gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts) {
  return gradcheck_report(fn, inputs, opts).empty();
}

std::string gradcheck_params_report(const std::function<Tensor()>& fn, const std::vector<Tensor>& params,
                                    GradcheckOptions o) {
  std::vector<Tensor> inputs = params;
  std::vector<Tensor> grads;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    ELBO_CHECK(t.defined() && t.dtype() == DType::f64 && t.is_leaf() && t.requires_grad(),
               "gradcheck_params: tensor {} must be an f64 leaf that requires grad (a module's parameters after "
               "module.to(DType::f64)), got {}", i, t.defined() ? fmt::format("{} {}", t.dtype(), t.shape()) : "undefined");
    grads.push_back(t.grad());
  }
  const std::string r = check(fn, inputs, o);
  for (size_t i = 0; i < inputs.size(); ++i) inputs[i].set_grad(grads[i]);  // as the caller left them
  return r;
}

bool gradcheck_params(const std::function<Tensor()>& fn, const std::vector<Tensor>& params, GradcheckOptions opts) {
  return gradcheck_params_report(fn, params, opts).empty();
}

std::string gradgradcheck_report(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions o) {
  // v: fn's output shape, from one evaluation on copies of the inputs
  Tensor v;
  {
    std::vector<Tensor> probe;
    for (const Tensor& t : inputs) {
      ELBO_CHECK(t.defined(), "gradgradcheck: an input is undefined");
      probe.push_back(t.detach().clone());
    }
    NoGradGuard ng;
    const Tensor y = fn(probe);
    ELBO_CHECK(y.defined() && y.dtype() == DType::f64, "gradgradcheck: the function must return an f64 tensor");
    Generator gen(20261129);
    v = randn(y.shape(), gen, DType::f64);
  }
  // The first derivatives as one flat f64 vector (zeros where an input is unused).
  auto first = [&](std::vector<Tensor>& in) {
    EnableGradGuard recording;  // also inside gradcheck's finite differences, which run without a tape
    std::vector<Tensor> wrt;
    for (const Tensor& t : in)
      if (t.dtype() == DType::f64) wrt.push_back(t);
    const Tensor y = fn(in);
    std::vector<Tensor> g(wrt.size());
    if (y.requires_grad())
      g = autograd::grad({y}, wrt, {.create_graph = true, .grad_outputs = {v}, .allow_unused = true});
    std::vector<Tensor> flat;
    for (size_t i = 0; i < wrt.size(); ++i)
      flat.push_back(reshape(g[i].defined() ? g[i] : zeros(wrt[i].shape(), DType::f64), {-1}));
    return flat.empty() ? zeros({0}, DType::f64) : cat(flat, 0);
  };
  o.allow_unused = true;
  std::string r = gradcheck_report(first, inputs, o);
  return r.empty() ? r : "gradgradcheck (second derivatives): " + r;
}

bool gradgradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions opts) {
  return gradgradcheck_report(fn, inputs, opts).empty();
}

}  // namespace elbo
