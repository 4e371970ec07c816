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
#include "../distributions/discretized_logistic.h"
#include "../distributions/intensity_categorical.h"

namespace elbo::models {

// The two families the categorical and discretized-logistic heads build live in distributions/.
using dist::DiscretizedLogistic;
using dist::IntensityCategorical;

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
