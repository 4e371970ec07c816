#include "autograd/functional.h"

#include "autograd/ops.h"

namespace elbo::autograd {
namespace {
void check_input(const char* op, const Tensor& x) {
  ELBO_CHECK(x.defined() && is_floating(x.dtype()), "{}: x must be a floating tensor, got {}", op,
             x.defined() ? fmt::format("{} {}", x.dtype(), x.shape()) : "undefined");
}
// The tensor f is differentiated at: x itself when it requires grad (so create_graph links back to it),
// else a leaf sharing x's storage.
Tensor differentiable(const Tensor& x) { return x.requires_grad() ? x : x.detach().requires_grad_(); }

Tensor shape_join(const Tensor& rows, const Shape& out, const Shape& in) {
  detail::Dims s(out.begin(), out.end());
  s.insert(s.end(), in.begin(), in.end());
  return reshape(rows, s);
}

// Row i of d y / d x for every element i of y, stacked: [y.numel(), x.numel()].
Tensor rows_of(const char* op, const Tensor& y, const Tensor& x, bool create_graph) {
  ELBO_CHECK(y.defined(), "{}: the function returned an undefined tensor", op);
  std::vector<Tensor> rows;
  rows.reserve(size_t(y.numel()));
  for (int64_t i = 0; i < y.numel(); ++i) {
    Tensor row;
    if (y.requires_grad()) {
      Tensor pick = zeros({y.numel()}, y.dtype());
      with_float(y.dtype(), op, [&](auto t) { pick.data<decltype(t)>()[i] = 1; });
      row = grad({y}, {x}, {.retain_graph = true, .create_graph = create_graph,
                            .grad_outputs = {reshape(pick, y.shape())}, .allow_unused = true})[0];
    }
    rows.push_back(reshape(row.defined() ? row : zeros(x.shape(), x.dtype()), {1, x.numel()}));
  }
  return rows.empty() ? zeros({0, x.numel()}, x.dtype()) : cat(rows, 0);
}
}  // namespace

Tensor jacobian(const TensorFn& f, const Tensor& x0, const JacobianOptions& o) {
  check_input("jacobian", x0);
  const Tensor x = differentiable(x0);
  const Tensor y = f(x);
  ELBO_CHECK(y.defined() && is_floating(y.dtype()), "jacobian: the function must return a floating tensor");
  return shape_join(rows_of("jacobian", y, x, o.create_graph), y.shape(), x.shape());
}

namespace {
// d f / d x with a graph of its own, f scalar.
Tensor gradient_with_graph(const char* op, const TensorFn& f, const Tensor& x, Tensor* value) {
  const Tensor y = f(x);
  ELBO_CHECK_SHAPE(y.defined() && y.numel() == 1, "{}: the function must return one element, got shape {}", op,
                   y.defined() ? y.shape() : Shape{});
  if (value) *value = y.detach();
  if (!y.requires_grad()) return zeros(x.shape(), x.dtype());
  Tensor g = grad({y}, {x}, {.create_graph = true, .allow_unused = true})[0];
  return g.defined() ? g : zeros(x.shape(), x.dtype());
}
}  // namespace

Tensor hessian(const TensorFn& f, const Tensor& x0, const JacobianOptions& o) {
  check_input("hessian", x0);
  const Tensor x = differentiable(x0);
  const Tensor g = gradient_with_graph("hessian", f, x, nullptr);
  return shape_join(rows_of("hessian", g, x, o.create_graph), x.shape(), x.shape());
}

HessianVectorProduct hessian_vector_product(const TensorFn& f, const Tensor& x0, const Tensor& v) {
  check_input("hessian_vector_product", x0);
  ELBO_CHECK_SHAPE(v.defined() && v.shape() == x0.shape(), "hessian_vector_product: v has shape {}, x has {}",
                   v.defined() ? v.shape() : Shape{}, x0.shape());
  const Tensor x = differentiable(x0);
  HessianVectorProduct r;
  const Tensor g = gradient_with_graph("hessian_vector_product", f, x, &r.value);
  Tensor hv;
  if (g.requires_grad()) hv = grad({g}, {x}, {.grad_outputs = {v.to(g.dtype())}, .allow_unused = true})[0];
  r.hvp = hv.defined() ? hv.detach() : zeros(x.shape(), x.dtype());
  return r;
}

}  // namespace elbo::autograd
