#include "distributions/discretized_logistic.h"

#include <numbers>

namespace elbo::dist {

DiscretizedLogistic::DiscretizedLogistic(Tensor loc, Tensor log_scale) : loc_(std::move(loc)), log_scale_(std::move(log_scale)) {
  check_floating("DiscretizedLogistic", "loc", loc_);
  check_floating("DiscretizedLogistic", "log_scale", log_scale_);
  ELBO_CHECK_SHAPE(loc_.shape() == log_scale_.shape(), "DiscretizedLogistic: loc {} and log_scale {} differ",
                   loc_.shape(), log_scale_.shape());
}

Tensor DiscretizedLogistic::log_prob(const Tensor& x) const {
  check_value_shape("DiscretizedLogistic", x, batch_shape());
  validate("DiscretizedLogistic", "value", x, Constraint::unit_interval);
  constexpr double half_bin = 1.0 / 510.0;
  const Tensor inv_s = exp(-log_scale_);
  const Tensor centred = x - loc_;
  const Tensor plus = (centred + half_bin) * inv_s, minus = (centred - half_bin) * inv_s;
  const Tensor lower_edge = log_sigmoid(plus);  // x = 0: P = sigmoid(plus)
  const Tensor upper_edge = -softplus(minus);   // x = 1: P = 1 - sigmoid(minus)
  const Tensor delta = sigmoid(plus) - sigmoid(minus);
  // where the difference underflows, the density at the centre times the bin width 1/255
  const Tensor mid = centred * inv_s;
  const Tensor density = mid - log_scale_ - 2.0 * softplus(mid) - std::log(255.0);
  const Tensor tiny = full({}, 1e-5, delta.dtype());
  const Tensor interior = where(gt(delta, tiny), log(maximum(delta, full({}, 1e-12, delta.dtype()))), density);
  return where(le(x, full({}, half_bin, x.dtype())), lower_edge,
               where(ge(x, full({}, 1.0 - half_bin, x.dtype())), upper_edge, interior));
}

Tensor DiscretizedLogistic::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  Shape s = sample_shape;
  s.insert(s.end(), loc_.shape().begin(), loc_.shape().end());
  const Tensor u = clamp(rand(s, gen, loc_.dtype()), 1e-6, 1.0 - 1e-6);
  const Tensor v = clamp(loc_ + exp(log_scale_) * (log(u) - log1p(-u)), 0.0, 1.0);
  const Tensor k = v * 255.0 + 0.5;
  return (k - remainder(k, 1.0)) / 255.0;  // rounded to the nearest level
}

Tensor DiscretizedLogistic::variance() const { return square(exp(log_scale_)) * (std::numbers::pi * std::numbers::pi / 3.0); }

}  // namespace elbo::dist
