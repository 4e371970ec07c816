#pragma once
// Likelihood heads: how a decoder's output becomes the distribution p(x | z) over an example's D pixels.
// A head says how many numbers per example the decoder emits, builds the distribution from them (batch
// [N], event [D], as a dist::AnyDistribution) and names itself for reports. The zoo's four:
//   bernoulli             Independent(Bernoulli(logits [N, D]), 1); x in [0, 1] (binarized, or grayscale
//                         as the classic example scores it)
//   gaussian              Independent(Normal(mean [N, D], std), 1) with a fixed std, or a learned one:
//                         the decoder emits [N, 2D] = mean ++ log-std (log-std clamped to [-7, 2])
//   continuous-bernoulli  Independent(ContinuousBernoulli(logits [N, D]), 1) (Loaiza-Ganem and Cunningham 2019)
//   categorical           Independent(IntensityCategorical(logits [N, D, K]), 1): K intensity levels
// Densities (gaussian, continuous Bernoulli) and probabilities (bernoulli, categorical) are not on one
// scale: every report names the head.
#include <memory>
#include <string>
#include <string_view>

#include "../distributions/any.h"
#include "../distributions/categorical.h"

namespace elbo::models {

// A pixel intensity in [0, 1] as one of K levels: level k holds [k/K, (k+1)/K) (level K-1 also holds 1).
// A Categorical over the levels whose values are intensities: log_prob(x) is the log probability of x's
// level, sample() and mean() return level centres (k + 1/2) / K. batch_shape = logits.shape()[:-1].
class IntensityCategorical {
 public:
  explicit IntensityCategorical(const Tensor& logits) : cat_(logits) {}
  const dist::Categorical& categorical() const { return cat_; }
  int64_t levels() const { return cat_.num_events(); }
  Shape batch_shape() const { return cat_.batch_shape(); }
  Shape event_shape() const { return {}; }
  Tensor log_prob(const Tensor& x) const;  // x in [0, 1]
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor mean() const;      // sum_k p_k (k + 1/2) / K
  Tensor variance() const;  // of the level centres
  // The level index of each intensity, floor(x K) clamped to [0, K - 1]: i64, x's shape.
  static Tensor level_of(const Tensor& x, int64_t levels);

 private:
  Tensor centres() const;  // [K]
  dist::Categorical cat_;
};

// Maps decoder output to p(x | z). Heads are immutable and shared (std::shared_ptr<const Likelihood>).
class Likelihood {
 public:
  virtual ~Likelihood() = default;
  virtual std::string name() const = 0;                  // e.g. "bernoulli", "categorical-16"
  virtual int64_t out_features(int64_t d) const = 0;      // decoder outputs per example for D pixels
  virtual int64_t channels() const { return 1; }          // planes a convolutional decoder emits
  // out [N, out_features(D)] -> p(x | z) with batch [N], event [D].
  virtual dist::AnyDistribution distribution(const Tensor& out) const = 0;
  // A convolutional decoder's planes [N, channels(), H, W] as the rows distribution() reads.
  virtual Tensor rows(const Tensor& planes) const;
  // The image to display for out: the distribution's mean, clamped to [0, 1].
  Tensor mean(const Tensor& out) const;
};

enum class LikelihoodKind { bernoulli, gaussian, continuous_bernoulli, categorical };
// "bernoulli" | "gaussian" | "continuous-bernoulli" | "categorical"; a ValueError names the choices.
LikelihoodKind parse_likelihood(std::string_view name);

struct LikelihoodOptions {
  LikelihoodKind kind = LikelihoodKind::bernoulli;
  double gaussian_std = 0.1;  // gaussian: the fixed std, unless learned_std
  bool learned_std = false;   // gaussian: the decoder also emits a log-std per pixel
  int64_t levels = 16;        // categorical: intensity levels K
};
std::shared_ptr<const Likelihood> make_likelihood(const LikelihoodOptions& o = {});

}  // namespace elbo::models
