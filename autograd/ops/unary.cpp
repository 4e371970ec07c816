// Elementwise unary ops: one SIMD kernel forward, the derivative written under it.
#include <cmath>
#include <numbers>

#include "autograd/ops/common.h"
#include "autograd/ops/derivatives.h"

namespace elbo {
namespace detail {
Tensor unary_kernel(const char* op, const Tensor& x, kernels::Unary k, double p0, double p1) {
  Tensor y = empty(x.shape(), x.dtype());
  with_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    kernels::unary<T>(k, in<T>(x), out<T>(y), T(p0), T(p1));
  });
  return y;
}
}  // namespace detail

using detail::unary_kernel;
using kernels::Unary;

Tensor neg(const Tensor& x) {
  if (x.dtype() == DType::i64) return detail::int_affine(x, -1, 0);
  Tensor y = unary_kernel("neg", x, Unary::neg);
  return record(op::neg, y, {x}, [](const Tensor& gy) { return Grads{neg(gy)}; });
}

Tensor exp(const Tensor& x) {
  Tensor y = unary_kernel("exp", x, Unary::exp);
  return record(op::exp, y, {x}, [y](const Tensor& gy) {  // d e^x = e^x
    return Grads{gy * detail::linked(y)};
  });
}

Tensor log(const Tensor& x) {
  Tensor y = unary_kernel("log", x, Unary::log);
  return record(op::log, y, {x}, [x](const Tensor& gy) { return Grads{gy / x}; });  // d log x = 1/x
}

Tensor log1p(const Tensor& x) {
  Tensor y = unary_kernel("log1p", x, Unary::log1p);
  return record(op::log1p, y, {x}, [x](const Tensor& gy) { return Grads{gy / (x + 1.0)}; });
}

Tensor expm1(const Tensor& x) {
  Tensor y = unary_kernel("expm1", x, Unary::expm1);
  return record(op::expm1, y, {x}, [y](const Tensor& gy) {  // d = e^x
    return Grads{gy * (detail::linked(y) + 1.0)};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_kernel("sqrt", x, Unary::sqrt);
  return record(op::sqrt, y, {x}, [y](const Tensor& gy) {  // 1/(2 sqrt x)
    return Grads{gy / (2.0 * detail::linked(y))};
  });
}

Tensor square(const Tensor& x) {
  Tensor y = unary_kernel("square", x, Unary::square);
  return record(op::square, y, {x}, [x](const Tensor& gy) { return Grads{gy * (2.0 * x)}; });
}

Tensor abs(const Tensor& x) {
  if (x.dtype() == DType::i64) return maximum(x, neg(x));
  Tensor y = unary_kernel("abs", x, Unary::abs);
  return record(op::abs, y, {x}, [x = x.detach()](const Tensor& gy) {
    return Grads{gy * unary_kernel("abs", x, Unary::sign)};  // sign(x), 0 at 0
  });
}

Tensor sign(const Tensor& x) { return unary_kernel("sign", x.detach(), Unary::sign); }

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_kernel("sigmoid", x, Unary::sigmoid);
  return record(op::sigmoid, y, {x}, [y](const Tensor& gy) {  // d sigmoid = y (1 - y)
    return Grads{detail::sigmoid_backward(gy, detail::linked(y))};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_kernel("tanh", x, Unary::tanh);
  return record(op::tanh, y, {x}, [y](const Tensor& gy) {  // d tanh = 1 - y^2
    return Grads{detail::tanh_backward(gy, detail::linked(y))};
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = unary_kernel("relu", x, Unary::relu);
  return record(op::relu, y, {x}, [y](const Tensor& gy) {
    return Grads{detail::relu_backward(gy, y)};  // 1 where x > 0 (y > 0), else 0: a mask with no derivative
  });
}

Tensor softplus(const Tensor& x) {
  Tensor y = unary_kernel("softplus", x, Unary::softplus);
  return record(op::softplus, y, {x}, [x](const Tensor& gy) {  // d log(1+e^x) = sigmoid(x)
    return Grads{gy * sigmoid(x)};
  });
}

Tensor log_sigmoid(const Tensor& x) {
  Tensor y = unary_kernel("log_sigmoid", x, Unary::log_sigmoid);
  return record(op::log_sigmoid, y, {x}, [x](const Tensor& gy) {  // d log sigmoid(x) = sigmoid(-x)
    return Grads{gy * sigmoid(-x)};
  });
}

Tensor elu(const Tensor& x, double alpha) {
  Tensor y = unary_kernel("elu", x, Unary::elu, alpha);
  return record(op::elu, y, {x}, [x, y, alpha](const Tensor& gy) {
    // 1 for x > 0, alpha e^x = y + alpha otherwise
    Tensor pos = unary_kernel("elu", x, Unary::step);
    return Grads{gy * (pos + (1.0 - pos) * (detail::linked(y) + alpha))};
  });
}

Tensor leaky_relu(const Tensor& x, double slope) {
  Tensor y = unary_kernel("leaky_relu", x, Unary::leaky_relu, slope);
  return record(op::leaky_relu, y, {x}, [x = x.detach(), slope](const Tensor& gy) {
    Tensor pos = unary_kernel("leaky_relu", x, Unary::step);
    return Grads{gy * (pos * (1.0 - slope) + slope)};  // 1 for x > 0, slope otherwise
  });
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  ELBO_CHECK_VALUE(!(lo > hi), "clamp: lower bound {} is above upper bound {}", lo, hi);
  Tensor y = unary_kernel("clamp", x, Unary::clamp, lo, hi);
  return record(op::clamp, y, {x}, [x = x.detach(), lo, hi](const Tensor& gy) {
    Tensor inside = ge(x, full({}, lo, x.dtype())) * le(x, full({}, hi, x.dtype()));
    return Grads{gy * inside};
  });
}

// erf and erfinv: no SIMD kernel (they serve the Normal's cdf and icdf), a scalar loop in double.
namespace {
constexpr double kTwoOverSqrtPi = std::numbers::inv_sqrtpi * 2;

// erfinv(y) for |y| < 1: Winitzki's closed-form guess (relative error ~1e-3), polished by Halley steps on
// f(x) = erf(x) - y. For |y| > 1/2 the residual is taken as (1 - y) - erfc(x) instead: 1 - y is exact
// there (Sterbenz) and erfc keeps its relative accuracy, so the result resolves y to the last bit.
double erfinv_scalar(double y) {
  if (std::isnan(y) || y < -1 || y > 1) return std::nan("");
  if (y == 1 || y == -1) return std::copysign(INFINITY, y);
  if (y == 0) return y;
  const double a = std::abs(y);
  double x;
  if (a < 1e-3) {
    x = std::sqrt(std::numbers::pi) / 2 * (a + std::numbers::pi / 12 * a * a * a);  // Taylor series
  } else {
    constexpr double k = 0.147;
    const double l = std::log1p(-a * a), t = 2 / (std::numbers::pi * k) + l / 2;
    x = std::sqrt(std::sqrt(t * t - l / k) - t);
  }
  for (int i = 0; i < 8; ++i) {
    const double f = a > 0.5 ? (1 - a) - std::erfc(x) : std::erf(x) - a;
    const double r = f / (kTwoOverSqrtPi * std::exp(-x * x));  // f / f'
    const double step = r / (1 + x * r);                        // Halley: f''/f' = -2x
    x -= step;
    if (std::abs(step) <= 1e-17 * x) break;
  }
  return std::copysign(x, y);
}

template <class F> Tensor map_float(const char* op, const Tensor& x, F f) {
  Tensor y = empty(x.shape(), x.dtype());
  with_float(x.dtype(), op, [&](auto z) {
    using T = decltype(z);
    const T* px = x.data<const T>();
    T* py = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) py[i] = T(f(double(px[i])));
  });
  return y;
}
}  // namespace

Tensor erf(const Tensor& x) {
  Tensor y = map_float("erf", x, [](double v) { return std::erf(v); });
  return record(op::erf, y, {x}, [x](const Tensor& gy) {
    return Grads{gy * (kTwoOverSqrtPi * exp(-square(x)))};  // d erf(x) = 2/sqrt(pi) e^{-x^2}
  });
}

Tensor erfinv(const Tensor& x) {
  Tensor y = map_float("erfinv", x, erfinv_scalar);
  return record(op::erfinv, y, {x}, [y](const Tensor& gy) {
    // y = erfinv(x) <=> x = erf(y), so dy/dx = 1 / erf'(y) = sqrt(pi)/2 e^{y^2}
    return Grads{gy * ((1 / kTwoOverSqrtPi) * exp(square(detail::linked(y))))};
  });
}

namespace detail {
// The fused derivative kernels as ops: d/dgy is the same op on the new gradient, d/dy by the product rule.
Tensor sigmoid_backward(const Tensor& gy, const Tensor& y) {
  Tensor r = binary_kernel("sigmoid_backward", gy, y, kernels::Binary::sigmoid_grad);
  return record(op::sigmoid_backward, r, {gy, y}, [gy, y](const Tensor& g) {  // r = gy (y - y^2)
    return Grads{sigmoid_backward(g, y), g * gy * (1.0 - 2.0 * y)};
  });
}

Tensor tanh_backward(const Tensor& gy, const Tensor& y) {
  Tensor r = binary_kernel("tanh_backward", gy, y, kernels::Binary::tanh_grad);
  return record(op::tanh_backward, r, {gy, y}, [gy, y](const Tensor& g) {  // r = gy (1 - y^2)
    return Grads{tanh_backward(g, y), -2.0 * (g * gy * y)};
  });
}

Tensor relu_backward(const Tensor& gy, const Tensor& y) {
  Tensor r = binary_kernel("relu_backward", gy, y, kernels::Binary::relu_grad);
  return record(op::relu_backward, r, {gy, y}, [y](const Tensor& g) {  // r = gy [y > 0]: constant in y
    return Grads{relu_backward(g, y), Tensor()};
  });
}
}  // namespace detail

}  // namespace elbo
