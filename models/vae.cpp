#include "models/vae.h"

namespace elbo::models {

VAE::VAE(const VaeOptions& o, Generator& gen)
    : opt_(o),
      encoder_(register_inline(make_encoder(o, gen))),
      decoder_(register_inline(make_decoder(o, make_likelihood(o.likelihood), gen))),
      flow_(o.flow.kind == FlowSpec::Kind::none
                ? nullptr
                : &register_module("flow", PosteriorFlow(o.flow, encoder_.context_features(), o.latent, gen))),
      learned_prior_(o.prior.kind == PriorSpec::Kind::normal
                         ? nullptr
                         : &register_module("prior", LearnedPrior(o.prior, o.latent, gen))),
      probe_(named_parameters().front().second),
      prior_(standard_normal(o.latent)) {}

dist::AnyDistribution VAE::prior() const {
  if (learned_prior_) return learned_prior_->distribution();
  return probe_.dtype() == DType::f32 ? prior_ : standard_normal(opt_.latent, probe_.dtype());
}
dist::AnyDistribution VAE::posterior(const Tensor& x) const {
  if (!flow_) return encoder_.forward(x);
  return posterior(encoder_.params(x));
}

dist::AnyDistribution VAE::posterior(const Encoder::Params& p) const {
  const dist::AnyDistribution q0 = encoder_.distribution(p);
  return flow_ ? flow_->refine(q0, p.context) : q0;
}
dist::AnyDistribution VAE::likelihood(const Tensor& z) const { return decoder_.forward(z); }

std::string VAE::describe() const {
  const std::string flow = flow_ ? ", flow " + flow_name(opt_.flow) : "";
  const std::string prior = learned_prior_ ? ", prior " + prior_name(opt_.prior) : "";
  return fmt::format("{} VAE {}{}{}, {} likelihood", arch_name(opt_.arch), models::describe(opt_), flow, prior,
                     decoder_.head().name());
}

Tensor VAE::sample_images(int64_t n, Generator& gen) const {
  NoGradGuard no_grad;
  return decoder_.mean(prior().sample(gen, {n}));
}

Tensor VAE::reconstruct(const Tensor& x) const {
  NoGradGuard no_grad;
  return decoder_.mean(location(posterior(x)));
}

}  // namespace elbo::models
