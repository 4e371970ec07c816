#include "models/autoencoder.h"

namespace elbo::models {

Autoencoder::Autoencoder(const VaeOptions& o, Generator& gen) : opt_(o) {
  const int64_t d = o.height * o.width, h = o.hidden, l = o.latent;
  if (o.arch == "mlp") {
    fc1_ = &register_module("fc1", nn::Linear(d, h, gen));
    fc2_ = &register_module("fc2", nn::Linear(h, l, gen));
    fc3_ = &register_module("fc3", nn::Linear(l, h, gen));
    fc4_ = &register_module("fc4", nn::Linear(h, o.likelihood.out_features(d), gen));
    return;
  }
  ELBO_CHECK(o.arch == "conv", "Autoencoder: unknown architecture '{}' (mlp or conv)", o.arch);
  ELBO_CHECK(o.height == 28 && o.width == 28, "conv autoencoder: the architecture is for 28x28 images, got {}x{}",
             o.height, o.width);
  encoder_ = &register_module("encoder", conv_encoder(l, gen));
  decoder_ = &register_module("decoder", conv_decoder(l, o.likelihood.out_features(1), gen));
}

std::string Autoencoder::describe() const {
  return fmt::format("{} autoencoder latent {}, {} likelihood", opt_.arch, opt_.latent, opt_.likelihood.name());
}

Tensor Autoencoder::encode(const Tensor& x) const {
  if (fc1_) return fc2_->forward(relu(fc1_->forward(x)));
  return encoder_->forward(reshape(x, {x.shape()[0], 1, opt_.height, opt_.width}));
}

Tensor Autoencoder::decode(const Tensor& z) const {
  if (fc1_) return fc4_->forward(relu(fc3_->forward(z)));
  return conv_rows(decoder_->forward(z), opt_.likelihood);
}

Tensor Autoencoder::log_likelihood(const Tensor& x) const { return opt_.likelihood.log_prob(decode(encode(x)), x); }

Tensor Autoencoder::sample_images(int64_t n, Generator& gen) const {
  NoGradGuard ng;
  return opt_.likelihood.mean(decode(randn({n, opt_.latent}, gen)));
}

Tensor Autoencoder::reconstruct(const Tensor& x) const {
  NoGradGuard ng;
  return opt_.likelihood.mean(decode(encode(x)));
}

}  // namespace elbo::models
