#include "models/autoencoder.h"

namespace elbo::models {

Autoencoder::Autoencoder(const VaeOptions& o, Generator& gen)
    : opt_(o),
      encoder_(register_inline(make_code_encoder(o, gen))),
      decoder_(register_inline(make_decoder(o, make_likelihood(o.likelihood), gen))) {}

std::string Autoencoder::describe() const {
  return fmt::format("{} autoencoder latent {}, {} likelihood", arch_name(opt_.arch), opt_.latent,
                     decoder_.head().name());
}

Tensor Autoencoder::log_likelihood(const Tensor& x) const { return decoder_.forward(encode(x)).log_prob(x); }

Tensor Autoencoder::sample_images(int64_t n, Generator& gen) const {
  NoGradGuard no_grad;
  return decoder_.mean(randn({n, opt_.latent}, gen));
}

Tensor Autoencoder::reconstruct(const Tensor& x) const {
  NoGradGuard no_grad;
  return decoder_.mean(encode(x));
}

}  // namespace elbo::models
