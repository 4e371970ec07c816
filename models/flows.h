#pragma once
// Normalizing flows that refine q(z | x) (elbo-vae --flow): q_K(z | x) is the law of z_K = f_K(...f_1(z_0)),
// z_0 ~ the encoder's diagonal Normal, each f_k a transform whose parameters come from the encoder's
// context (its hidden features), as Rezende and Mohamed 2015 (planar, radial), Tomczak and Welling 2016
// (householder) and Kingma et al. 2016 (iaf) amortize them:
//   planar:K       per step a head context -> (u, w, b), PlanarTransform
//   radial:K       per step a head context -> (x0, alpha, beta), RadialTransform
//   householder:K  per step a head context -> v, HouseholderTransform (volume preserving)
//   iaf:K          per step a MADE over z with the context as an extra input (hidden 2 x context
//                  features), AffineAutoregressiveTransform; orders alternate between steps
//   sylvester:K    per step a head context -> (Q raw [L, L], R, R~, their diagonals, b), SylvesterTransform
//                  with Q = orthogonalize(Q raw) (van den Berg et al.'s O-SNF, M = L) and diagonals
//                  through tanh
//   tsylvester:K   the same with Q the identity or the reversal, alternating (T-SNF)
// The result is a TransformedDistribution: the estimators score its own samples (no inverse needed) and,
// with no closed-form KL, estimate the KL by Monte Carlo. Parameters are named flow.<k>.*.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../distributions/transformed.h"
#include "../nn/nn.h"
#include "networks.h"

namespace elbo::models {

struct FlowSpec {
  enum class Kind { none, planar, radial, householder, iaf, sylvester, tsylvester } kind = Kind::none;
  int64_t steps = 0;
};
// "none" | "planar:K" | "radial:K" | "householder:K" | "iaf:K" | "sylvester:K" | "tsylvester:K"
FlowSpec parse_flow(std::string_view name);
std::string flow_name(const FlowSpec& f);

class PosteriorFlow : public nn::Module {
 public:
  PosteriorFlow(const FlowSpec& spec, int64_t context_features, int64_t latent, Generator& gen);
  // The transforms for a batch of contexts [B, C]; their parameters are [B, ...].
  dist::TransformList transforms(const Tensor& context) const;
  // q_K: base (batch [B], event [L]) pushed through transforms(context).
  dist::AnyDistribution refine(const dist::AnyDistribution& base, const Tensor& context) const;
  const FlowSpec& spec() const { return spec_; }

 private:
  FlowSpec spec_;
  int64_t latent_;
  std::vector<nn::Linear*> heads_;  // planar, radial, householder, sylvester
  Tensor identity_, reversal_;      // tsylvester's Q
  std::vector<nn::MADE*> made_;     // iaf
};

// --likelihood flow: p(x | z) for grayscale pixels as a z-conditioned Real NVP (Dinh et al. 2017): the
// MLP decoder's fc3 gives hidden features h(z) and fc4 a diagonal Normal over logit-space pixels u; K
// affine coupling steps, each conditioned on [the kept half, h(z)] (coupling.<k>: Linear(D/2 + H, H),
// ReLU, Linear(H, D) giving tanh-bounded log-scales and shifts, started at the identity) with the pixel
// order reversed between steps, then UnitIntervalTransform to [0, 1]. Scoring x runs every step's exact
// inverse once; train on dequantized pixels (--binarize dequantize) for bits per dimension.
class FlowDecoder final : public Decoder {
 public:
  FlowDecoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen);
  Tensor params(const Tensor& z) const override;  // the base's loc ++ log-scale
  dist::AnyDistribution forward(const Tensor& z) const override;
  Tensor mean(const Tensor& z) const override;  // the flow of the base's mean, clamped to [0, 1]

 private:
  // One coupling step's conditioner: [x_a, h] -> (log-scale raw, shift), each [.., D - D/2].
  struct CouplingNet : nn::Module {
    CouplingNet(int64_t in, int64_t hidden, int64_t out, Generator& gen);
    Tensor forward(const Tensor& x) const;  // [.., in] -> [.., 2 out]
    nn::Linear *in_, *out_;
  };
  Tensor hidden(const Tensor& z) const { return relu(fc3_.forward(z)); }
  dist::TransformedDistribution build(const Tensor& h) const;
  int64_t d_, split_;
  nn::Linear &fc3_, &fc4_;
  std::vector<const CouplingNet*> couplings_;
};

// Learned priors p(z) for elbo-vae --prior (the default is N(0, I)):
//   mog:K    a mixture of K diagonal Gaussians, MixtureSameFamily(Categorical(prior.logits),
//            Independent(Normal(prior.loc, exp(prior.log_scale)), 1)); locs start spread as N(0, I) draws
//   flow:K   a masked autoregressive flow (Papamakarios et al. 2017): N(0, I) pushed through K
//            InverseTransform(AffineAutoregressiveTransform(MADE)) steps, orders alternating; log p(z) costs
//            one MADE pass per step (the flow's cheap direction), sampling D passes per step
struct PriorSpec {
  enum class Kind { normal, mog, flow } kind = Kind::normal;
  int64_t k = 0;  // components or steps
};
PriorSpec parse_prior(std::string_view name);  // "normal" | "mog:K" | "flow:K"
std::string prior_name(const PriorSpec& p);

class LearnedPrior : public nn::Module {
 public:
  LearnedPrior(const PriorSpec& spec, int64_t latent, Generator& gen);
  dist::AnyDistribution distribution() const;  // batch [], event [L], in the parameters' dtype

 private:
  PriorSpec spec_;
  int64_t latent_;
  Tensor logits_, loc_, log_scale_;  // mog
  std::vector<nn::MADE*> made_;      // flow
  Tensor probe_;                     // a parameter, whose dtype the base follows
};

}  // namespace elbo::models
