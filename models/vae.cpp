#include "models/vae.h"

namespace elbo::models {

VAE::VAE(const VaeOptions& o, Generator& gen)
    : opt_(o),
      encoder_(register_inline(make_encoder(o, gen))),
      decoder_(register_inline(make_decoder(o, make_likelihood(o.likelihood), gen))),
      probe_(named_parameters().front().second),
      prior_(standard_normal(o.latent)) {}

dist::AnyDistribution VAE::prior() const {
  return probe_.dtype() == DType::f32 ? prior_ : standard_normal(opt_.latent, probe_.dtype());
}
dist::AnyDistribution VAE::posterior(const Tensor& x) const { return encoder_.forward(x); }
dist::AnyDistribution VAE::likelihood(const Tensor& z) const { return decoder_.forward(z); }

std::string VAE::describe() const {
  return fmt::format("{} VAE {}, {} likelihood", arch_name(opt_.arch), models::describe(opt_), decoder_.head().name());
}

Tensor VAE::sample_images(int64_t n, Generator& gen) const {
  NoGradGuard no_grad;
  return decoder_.mean(prior().sample(gen, {n}));
}

Tensor VAE::reconstruct(const Tensor& x) const {
  NoGradGuard no_grad;
  return decoder_.mean(posterior(x).mean());
}

}  // namespace elbo::models
