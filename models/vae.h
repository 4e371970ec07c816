#pragma once
// The variational autoencoder: p(z) = N(0, I), q(z | x) a diagonal (or full, or low-rank) Normal from an
// encoder, optionally refined by a normalizing flow (flows.h), p(x | z) from a
// decoder and a likelihood head, all distribution objects (model.h), scored by estimators.h. The MLP
// architecture is PyTorch's examples/vae with its parameter names (fc1, fc21, fc22, fc3, fc4), so
// checkpoints load there; networks.h has both architectures.
#include <string>

#include "conditional.h"
#include "estimators.h"
#include "flows.h"
#include "networks.h"

namespace elbo::models {

struct VaeOptions : NetworkOptions {
  LikelihoodOptions likelihood;
  FlowSpec flow{};    // refines q(z | x) (flows.h); none by default
  PriorSpec prior{};  // p(z): N(0, I) by default, or learned (flows.h)
};

// With condition = C > 0 (VaeOptions, from NetworkOptions) it is a conditional VAE (elbo-vae --condition
// label): q(z | x, y) and p(x | z, y) read one_hot(y) beside x and z (networks.h), p(z) ignores y, and the
// model is scored through its ConditionalModel calls (models::given(vae, y)); the unconditional calls
// (posterior(x), likelihood(z), sample_images(n)) are an Error then, naming the ones to use.
class VAE : public nn::Module, public AmortizedModel, public ConditionalModel {
 public:
  VAE(const VaeOptions& o, Generator& gen);

  dist::AnyDistribution prior() const override;                        // N(0, I) or learned, over [L]
  dist::AnyDistribution posterior(const Tensor& x) const override;     // q(z | x), x [B, D]
  // q(z | x) from the encoder's outputs (its heads and, for a flow, its context): the family the encoder
  // amortizes, for per-example optimization (vi.h's amortization_gap)
  dist::AnyDistribution posterior(const Encoder::Params& p) const;
  dist::AnyDistribution likelihood(const Tensor& z) const override;    // p(x | z), z [N, L]

  int64_t classes() const override { return opt_.condition; }  // 0: not conditional
  dist::AnyDistribution prior(const Tensor& y) const override;                          // p(z), whatever y
  dist::AnyDistribution posterior(const Tensor& x, const Tensor& y) const override;     // q(z | x, y)
  dist::AnyDistribution likelihood(const Tensor& z, const Tensor& y) const override;    // p(x | z, y)
  Tensor sample_images(const Tensor& y, Generator& gen) const;  // one image per label: [N, D] decoder means
  Tensor reconstruct(const Tensor& x, const Tensor& y) const;

  const Encoder& encoder() const { return encoder_; }
  const Decoder& decoder() const { return decoder_; }
  Tensor sample_images(int64_t n, Generator& gen) const;  // decoder means for z ~ p(z): [n, D] in [0, 1]
  Tensor reconstruct(const Tensor& x) const;              // decoder means at z = E_q[z]
  const VaeOptions& options() const { return opt_; }
  std::string describe() const;  // e.g. "mlp VAE 784-400-20, bernoulli likelihood"

 private:
  VaeOptions opt_;
  Encoder& encoder_;
  Decoder& decoder_;
  PosteriorFlow* flow_ = nullptr;
  LearnedPrior* learned_prior_ = nullptr;
  Tensor probe_;                 // a parameter, whose dtype the prior follows
  dist::AnyDistribution prior_;  // N(0, I) in f32, built once
};

}  // namespace elbo::models
