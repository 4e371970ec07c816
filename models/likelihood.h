#pragma once
// Observation models p(x | z) for image VAEs: the decoder emits `out_features(D)` numbers per example,
// log_prob scores x [B, D] and returns one log-likelihood per example [B] (summed over pixels, in nats),
// mean gives the image to display. Densities (gaussian, continuous-bernoulli) and probabilities
// (bernoulli, categorical) are not on the same scale: every report names the likelihood it used.
//   bernoulli             logits [B, D]; x in [0, 1] (binarized, or grayscale as the classic example does)
//   gaussian              mean [B, D] with a fixed std, or [B, 2D] = mean ++ log-std when learned
//   continuous-bernoulli  logits [B, D]; x in [0, 1] (Loaiza-Ganem and Cunningham 2019)
//   categorical           logits [B, D * K] over K intensity levels; x quantized to floor(x * K) (K-1 at 1)
#include <string>

#include "../autograd/ops.h"

namespace elbo::models {

enum class LikelihoodKind { bernoulli, gaussian, continuous_bernoulli, categorical };

struct Likelihood {
  LikelihoodKind kind = LikelihoodKind::bernoulli;
  double gaussian_std = 0.1;    // fixed std when !learned_std
  bool learned_std = false;     // gaussian only: the decoder also emits log-std per pixel
  int64_t levels = 16;          // categorical only

  int64_t out_features(int64_t d) const;
  Tensor log_prob(const Tensor& decoder_out, const Tensor& x) const;  // [B]
  Tensor mean(const Tensor& decoder_out) const;                       // [B, D] in [0, 1] for display
  std::string name() const;                                           // e.g. "bernoulli", "categorical-16"
};

Likelihood parse_likelihood(const std::string& s);  // bernoulli | gaussian | continuous-bernoulli | categorical

// Elementwise log normalizer of the continuous Bernoulli in terms of logits x (lambda = sigmoid(x)):
// log C = log(2 atanh(1 - 2 lambda) / (1 - 2 lambda)), with a Taylor expansion near lambda = 1/2.
Tensor continuous_bernoulli_log_norm(const Tensor& logits);

}  // namespace elbo::models
