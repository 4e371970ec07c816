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
