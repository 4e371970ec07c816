// The likelihood heads: each builds its distribution from the decoder's output; the families score.
#include "models/likelihood.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <type_traits>

#include "distributions/bernoulli.h"
#include "distributions/continuous_bernoulli.h"
#include "distributions/independent.h"
#include "distributions/normal.h"
#include "distributions/transformed.h"
#include "models/estimators.h"

namespace elbo::models {

// ---- IntensityCategorical ----

Tensor IntensityCategorical::level_of(const Tensor& x, int64_t levels) {
  ELBO_CHECK(x.defined() && is_floating(x.dtype()), "IntensityCategorical: intensities must be f32 or f64, got {}",
             x.defined() ? name(x.dtype()) : "undefined");
  Tensor idx = empty(x.shape(), DType::i64);
  int64_t* out = idx.data<int64_t>();
  with_float(x.dtype(), "IntensityCategorical", [&](auto t) {
    using T = decltype(t);
    const T* v = x.data<const T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      ELBO_CHECK_VALUE(v[i] >= T(0) && v[i] <= T(1), "IntensityCategorical: value {} must be in [0, 1] (found {} at "
                       "index {})", x.shape(), v[i], i);
      out[i] = std::min<int64_t>(levels - 1, int64_t(v[i] * T(levels)));
    }
  });
  return idx;
}

Tensor IntensityCategorical::log_prob(const Tensor& x) const { return cat_.log_prob(level_of(x, levels())); }

Tensor IntensityCategorical::centres() const {
  Tensor c = empty({levels()}, cat_.dtype());
  with_float(c.dtype(), "IntensityCategorical", [&](auto t) {
    using T = decltype(t);
    for (int64_t k = 0; k < levels(); ++k) c.data<T>()[k] = T((double(k) + 0.5) / double(levels()));
  });
  return c;
}

Tensor IntensityCategorical::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  const Tensor k = cat_.sample(gen, sample_shape);
  return (k.to(cat_.dtype()) + 0.5) / double(levels());
}

Tensor IntensityCategorical::mean() const { return sum(cat_.probs() * centres(), {-1}); }

Tensor IntensityCategorical::variance() const {
  const Tensor c = centres();
  return sum(cat_.probs() * square(c), {-1}) - square(mean());
}

// ---- DiscretizedLogistic ----

DiscretizedLogistic::DiscretizedLogistic(Tensor loc, Tensor log_scale) : loc_(std::move(loc)), log_scale_(std::move(log_scale)) {
  dist::check_floating("DiscretizedLogistic", "loc", loc_);
  dist::check_floating("DiscretizedLogistic", "log_scale", log_scale_);
  ELBO_CHECK_SHAPE(loc_.shape() == log_scale_.shape(), "DiscretizedLogistic: loc {} and log_scale {} differ",
                   loc_.shape(), log_scale_.shape());
}

Tensor DiscretizedLogistic::log_prob(const Tensor& x) const {
  dist::check_value_shape("DiscretizedLogistic", x, batch_shape());
  dist::validate("DiscretizedLogistic", "value", x, dist::Constraint::unit_interval);
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

double bits_per_dim(double nats, LikelihoodScale scale, int64_t d) {
  const double per_dim = -nats / (double(d) * std::log(2.0));
  switch (scale) {
    case LikelihoodScale::probability: return per_dim;
    case LikelihoodScale::density: return per_dim + 8.0;
    case LikelihoodScale::other: return std::nan("");
  }
  return std::nan("");
}

// ---- heads ----

Tensor Likelihood::rows(const Tensor& planes) const { return reshape(planes, {planes.size(0), -1}); }

Tensor Likelihood::mean(const Tensor& out) const {
  NoGradGuard no_grad;
  return clamp(location(distribution(out)), 0.0, 1.0);
}

namespace {

void check_rows(const Likelihood& head, const Tensor& out, int64_t per_pixel) {
  ELBO_CHECK_SHAPE(out.defined() && out.dim() == 2 && out.size(1) % per_pixel == 0,
                   "{} likelihood: decoder output {} is not [N, {}D]", head.name(),
                   out.defined() ? out.shape() : Shape{}, per_pixel);
}

// One logit per pixel: Independent(D(logits), 1), D = Bernoulli or ContinuousBernoulli.
template <class D> class LogitsHead final : public Likelihood {
 public:
  explicit LogitsHead(const char* name) : name_(name) {}
  std::string name() const override { return name_; }
  // a continuous Bernoulli is a density on [0, 1]; a Bernoulli's pixels are binary, no 8-bit reading
  LikelihoodScale scale() const override {
    return std::is_same_v<D, dist::ContinuousBernoulli> ? LikelihoodScale::density : LikelihoodScale::other;
  }
  int64_t out_features(int64_t d) const override { return d; }
  dist::AnyDistribution distribution(const Tensor& out) const override {
    check_rows(*this, out, 1);
    return dist::Independent(D(out), 1);
  }

 private:
  const char* name_;
};

class GaussianHead final : public Likelihood {
 public:
  GaussianHead(double std, bool learned) : std_(std), learned_(learned) {}
  std::string name() const override {
    return learned_ ? "gaussian-learned-std" : fmt::format("gaussian-std-{}", std_);
  }
  int64_t out_features(int64_t d) const override { return learned_ ? 2 * d : d; }
  int64_t channels() const override { return learned_ ? 2 : 1; }
  LikelihoodScale scale() const override { return LikelihoodScale::density; }
  dist::AnyDistribution distribution(const Tensor& out) const override {
    check_rows(*this, out, learned_ ? 2 : 1);
    if (!learned_) return dist::Independent(dist::Normal(out, full({}, std_, out.dtype())), 1);
    const int64_t d = out.size(1) / 2;
    return dist::Independent(dist::Normal(narrow(out, 1, 0, d), exp(clamp(narrow(out, 1, d, d), -7.0, 2.0))), 1);
  }

 private:
  double std_;
  bool learned_;
};

class DiscretizedLogisticHead final : public Likelihood {
 public:
  std::string name() const override { return "discretized-logistic"; }
  int64_t out_features(int64_t d) const override { return 2 * d; }
  int64_t channels() const override { return 2; }
  dist::AnyDistribution distribution(const Tensor& out) const override {
    check_rows(*this, out, 2);
    const int64_t d = out.size(1) / 2;
    return dist::Independent(DiscretizedLogistic(narrow(out, 1, 0, d), clamp(narrow(out, 1, d, d), -7.0, 2.0)), 1);
  }
  LikelihoodScale scale() const override { return LikelihoodScale::probability; }
};

// The flow likelihood's base, [N, 2D] = loc ++ log-scale (clamped to [-7, 2]) of a Normal in logit space,
// mapped to pixels by UnitIntervalTransform; a FlowDecoder adds its coupling steps in between.
class FlowHead final : public Likelihood {
 public:
  explicit FlowHead(int64_t steps) : steps_(steps) {}
  std::string name() const override { return fmt::format("flow-{}", steps_); }
  int64_t out_features(int64_t d) const override { return 2 * d; }
  int64_t channels() const override { return 2; }
  LikelihoodScale scale() const override { return LikelihoodScale::density; }
  int64_t coupling_steps() const override { return steps_; }
  dist::AnyDistribution distribution(const Tensor& out) const override {
    check_rows(*this, out, 2);
    const int64_t d = out.size(1) / 2;
    dist::TransformList t;
    t.push_back(std::make_shared<dist::UnitIntervalTransform>());
    return dist::TransformedDistribution(
        dist::Independent(dist::Normal(narrow(out, 1, 0, d), exp(clamp(narrow(out, 1, d, d), -7.0, 2.0))), 1), std::move(t));
  }

 private:
  int64_t steps_;
};

class CategoricalHead final : public Likelihood {
 public:
  explicit CategoricalHead(int64_t levels) : levels_(levels) {}
  std::string name() const override { return fmt::format("categorical-{}", levels_); }
  int64_t out_features(int64_t d) const override { return d * levels_; }
  int64_t channels() const override { return levels_; }
  LikelihoodScale scale() const override { return levels_ == 256 ? LikelihoodScale::probability : LikelihoodScale::other; }
  // out [N, D * K] with each pixel's K logits contiguous
  dist::AnyDistribution distribution(const Tensor& out) const override {
    check_rows(*this, out, levels_);
    return dist::Independent(IntensityCategorical(reshape(out, {out.size(0), -1, levels_})), 1);
  }
  // planes [N, K, H, W] -> [N, H * W * K]: the levels of a pixel side by side
  Tensor rows(const Tensor& planes) const override {
    return reshape(permute(planes, {0, 2, 3, 1}), {planes.size(0), -1});
  }

 private:
  int64_t levels_;
};

}  // namespace

LikelihoodKind parse_likelihood(std::string_view s) {
  if (s == "bernoulli") return LikelihoodKind::bernoulli;
  if (s == "gaussian") return LikelihoodKind::gaussian;
  if (s == "continuous-bernoulli") return LikelihoodKind::continuous_bernoulli;
  if (s == "categorical") return LikelihoodKind::categorical;
  if (s == "discretized-logistic") return LikelihoodKind::discretized_logistic;
  if (s == "flow") return LikelihoodKind::flow;
  throw ValueError(fmt::format("--likelihood: '{}' is not one of bernoulli, gaussian, continuous-bernoulli, "
                               "categorical, discretized-logistic, flow", s));
}

std::shared_ptr<const Likelihood> make_likelihood(const LikelihoodOptions& o) {
  switch (o.kind) {
    case LikelihoodKind::bernoulli: return std::make_shared<LogitsHead<dist::Bernoulli>>("bernoulli");
    case LikelihoodKind::continuous_bernoulli:
      return std::make_shared<LogitsHead<dist::ContinuousBernoulli>>("continuous-bernoulli");
    case LikelihoodKind::gaussian:
      ELBO_CHECK_VALUE(o.gaussian_std > 0 && std::isfinite(o.gaussian_std),
                       "gaussian likelihood: the std must be a finite number > 0, got {}", o.gaussian_std);
      return std::make_shared<GaussianHead>(o.gaussian_std, o.learned_std);
    case LikelihoodKind::categorical:
      ELBO_CHECK_VALUE(o.levels >= 2, "categorical likelihood: needs at least 2 levels, got {}", o.levels);
      return std::make_shared<CategoricalHead>(o.levels);
    case LikelihoodKind::discretized_logistic: return std::make_shared<DiscretizedLogisticHead>();
    case LikelihoodKind::flow:
      ELBO_CHECK_VALUE(o.coupling_steps >= 1 && o.coupling_steps <= 64,
                       "flow likelihood: coupling steps must be in [1, 64], got {}", o.coupling_steps);
      return std::make_shared<FlowHead>(o.coupling_steps);
  }
  throw ValueError("make_likelihood: unknown kind");
}

}  // namespace elbo::models
