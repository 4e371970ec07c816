#pragma once
// Likelihood heads: how a decoder's output becomes the distribution p(x | z) over an example's D pixels.
// A head says how many numbers per example the decoder emits, builds the distribution from them (batch
// [N], event [D], as a dist::AnyDistribution) and names itself for reports. The zoo's heads:
//   bernoulli             Independent(Bernoulli(logits [N, D]), 1); x in [0, 1] (binarized, or grayscale
//                         as the classic example scores it)
//   gaussian              Independent(Normal(mean [N, D], std), 1) with a fixed std, or a learned one:
//                         the decoder emits [N, 2D] = mean ++ log-std (log-std clamped to [-7, 2])
//   continuous-bernoulli  Independent(ContinuousBernoulli(logits [N, D]), 1) (Loaiza-Ganem and Cunningham 2019)
//   categorical           Independent(IntensityCategorical(logits [N, D, K]), 1): K intensity levels
//   discretized-logistic  Independent(DiscretizedLogistic(loc, log-scale), 1): [N, 2D] = loc ++ log-scale
//                         (clamped to [-7, 2]), 256 levels
//   flow                  a z-conditioned Real NVP density on [0, 1]^D (flows.h's FlowDecoder): the head
//                         alone is its base, Normal(loc, scale) in logit space mapped to pixels
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

// The discretized logistic over 8-bit intensities x = k / 255 (Salimans et al. 2017, PixelCNN++; Kingma
// et al. 2016): the mass of a logistic(loc, scale) on the bin [x - 1/510, x + 1/510], the first bin
// reaching down to -inf and the last up to +inf, so the 256 levels' probabilities sum to 1:
//   log P(x) = log(sigmoid((x - loc + 1/510) / s) - sigmoid((x - loc - 1/510) / s)),
// written with log_sigmoid / softplus at the edges, and the bin's density times its width where the
// difference underflows. sample() draws loc + s logit(u) and rounds it to a level; mean() is loc in [0, 1].
class DiscretizedLogistic {
 public:
  DiscretizedLogistic(Tensor loc, Tensor log_scale);
  Shape batch_shape() const { return loc_.shape(); }
  Shape event_shape() const { return {}; }
  Tensor log_prob(const Tensor& x) const;  // x in [0, 1], on the 8-bit grid
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor mean() const { return clamp(loc_, 0.0, 1.0); }
  Tensor variance() const;  // of the logistic: (pi s)^2 / 3

 private:
  Tensor loc_, log_scale_;
};

// How a head's log-likelihood of 8-bit images turns into bits per dimension (bits_per_dim):
//   probability   log P is already the probability of the 8-bit image (categorical-256,
//                 discretized-logistic): bits = -log P / (D ln 2);
//   density       a density on [0, 1]^D, valid for uniformly dequantized pixels x = (k + u) / 256
//                 (--binarize dequantize): log P(k) >= E_u log p(x) - D log 256, so
//                 bits = -log p / (D ln 2) + 8, an upper bound (Theis et al. 2016);
//   other         no 8-bit reading (bernoulli on binarized pixels, categorical with K != 256).
enum class LikelihoodScale { probability, density, other };

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
  virtual LikelihoodScale scale() const { return LikelihoodScale::other; }
  // flow: the coupling steps a decoder must add (make_decoder builds a FlowDecoder, flows.h); 0 otherwise
  virtual int64_t coupling_steps() const { return 0; }
};

// Bits per dimension of 8-bit images from a log-likelihood (or bound) in nats per example of D pixels;
// NaN for LikelihoodScale::other.
double bits_per_dim(double nats, LikelihoodScale scale, int64_t d);

enum class LikelihoodKind { bernoulli, gaussian, continuous_bernoulli, categorical, discretized_logistic, flow };
// "bernoulli" | "gaussian" | "continuous-bernoulli" | "categorical" | "discretized-logistic" | "flow"; a
// ValueError names the choices.
LikelihoodKind parse_likelihood(std::string_view name);

struct LikelihoodOptions {
  LikelihoodKind kind = LikelihoodKind::bernoulli;
  double gaussian_std = 0.1;  // gaussian: the fixed std, unless learned_std
  bool learned_std = false;   // gaussian: the decoder also emits a log-std per pixel
  int64_t levels = 16;        // categorical: intensity levels K
  int64_t coupling_steps = 4; // flow: affine coupling steps
};
std::shared_ptr<const Likelihood> make_likelihood(const LikelihoodOptions& o = {});

}  // namespace elbo::models
