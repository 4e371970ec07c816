#include "models/vae.h"

#include <cmath>
#include <numbers>

namespace elbo::models {

namespace {
constexpr double kLog2Pi = 1.8378770664093453;  // log(2 pi)

}  // namespace

nn::Sequential conv_encoder(int64_t out_features, Generator& gen) {
  return nn::Sequential(nn::Conv2d(1, 32, 4, 2, 1, true, gen), nn::ReLU(), nn::Conv2d(32, 64, 4, 2, 1, true, gen),
                        nn::ReLU(), nn::Flatten(), nn::Linear(64 * 7 * 7, out_features, gen));
}

nn::Sequential conv_decoder(int64_t latent, int64_t channels, Generator& gen) {
  return nn::Sequential(nn::Linear(latent, 64 * 7 * 7, gen), nn::ReLU(), nn::Unflatten(1, {64, 7, 7}),
                        nn::ConvTranspose2d(64, 32, 4, 2, 1, 0, true, gen), nn::ReLU(),
                        nn::ConvTranspose2d(32, channels, 4, 2, 1, 0, true, gen));
}

Tensor conv_rows(const Tensor& y, const Likelihood& likelihood) {
  const int64_t b = y.shape()[0];
  if (likelihood.kind == LikelihoodKind::categorical) return reshape(permute(y, {0, 2, 3, 1}), {b, -1});
  return reshape(y, {b, -1});
}

VAE::VAE(const VaeOptions& o, Generator& gen) : opt_(o) {
  const int64_t d = o.height * o.width, h = o.hidden, l = o.latent;
  if (o.arch == "mlp") {
    fc1_ = &register_module("fc1", nn::Linear(d, h, gen));
    fc21_ = &register_module("fc21", nn::Linear(h, l, gen));
    fc22_ = &register_module("fc22", nn::Linear(h, l, gen));
    fc3_ = &register_module("fc3", nn::Linear(l, h, gen));
    fc4_ = &register_module("fc4", nn::Linear(h, o.likelihood.out_features(d), gen));
  } else if (o.arch == "conv") {
    ELBO_CHECK(o.height == 28 && o.width == 28, "conv VAE: the architecture is for 28x28 images, got {}x{}", o.height,
               o.width);
    encoder_ = &register_module("encoder", conv_encoder(2 * l, gen));
    decoder_ = &register_module("decoder", conv_decoder(l, o.likelihood.out_features(1), gen));
  } else {
    throw ValueError(fmt::format("VAE: unknown architecture '{}' (mlp or conv)", o.arch));
  }
}

std::string VAE::describe() const {
  const int64_t d = opt_.height * opt_.width;
  if (opt_.arch == "mlp")
    return fmt::format("mlp VAE {}-{}-{}, {} likelihood", d, opt_.hidden, opt_.latent, opt_.likelihood.name());
  return fmt::format("conv VAE {}x{} latent {}, {} likelihood", opt_.height, opt_.width, opt_.latent,
                     opt_.likelihood.name());
}

Posterior VAE::encode(const Tensor& x) const {
  const int64_t d = opt_.height * opt_.width;
  ELBO_CHECK_SHAPE(x.dim() == 2 && x.shape()[1] == d, "VAE encode: input {} is not [B, {}]", x.shape(), d);
  if (fc1_) {
    const Tensor h = relu(fc1_->forward(x));
    return {fc21_->forward(h), fc22_->forward(h)};
  }
  const Tensor h = encoder_->forward(reshape(x, {x.shape()[0], 1, opt_.height, opt_.width}));
  return {narrow(h, 1, 0, opt_.latent), narrow(h, 1, opt_.latent, opt_.latent)};
}

Tensor VAE::decode(const Tensor& z) const {
  if (fc1_) return fc4_->forward(relu(fc3_->forward(z)));
  return conv_rows(decoder_->forward(z), opt_.likelihood);
}

Tensor kl_standard_normal(const Posterior& q, bool per_dim) {
  // KL(N(mu, s^2) || N(0, 1)) = (mu^2 + s^2 - 1 - log s^2) / 2 per dim (Kingma and Welling 2014, app. B)
  const Tensor k = 0.5 * (square(q.mu) + exp(q.logvar) - 1.0 - q.logvar);
  return per_dim ? k : sum(k, {1});
}

ElboTerms VAE::elbo(const Tensor& x, Generator& gen, int samples) const {
  const Posterior q = encode(x);
  const Tensor s = q.std();
  Tensor log_px;
  for (int i = 0; i < samples; ++i) {
    const Tensor z = q.mu + randn(q.mu.shape(), gen, q.mu.dtype()) * s;
    const Tensor lp = opt_.likelihood.log_prob(decode(z), x);
    log_px = log_px.defined() ? log_px + lp : lp;
  }
  if (samples > 1) log_px = log_px * (1.0 / samples);
  const Tensor kl = kl_standard_normal(q);
  return {log_px - kl, log_px, kl};
}

Tensor VAE::iwae(const Tensor& x, Generator& gen, int k, int chunk) const {
  ELBO_CHECK_VALUE(k >= 1, "iwae: K must be >= 1, got {}", k);
  const int64_t b = x.shape()[0], l = opt_.latent;
  const Posterior q = encode(x);
  const Tensor s = q.std(), log_s = 0.5 * q.logvar;
  std::vector<Tensor> parts;
  for (int start = 0; start < k; start += chunk) {
    const int64_t n = std::min(chunk, k - start);
    // n samples per example, laid out [n * B, L]: row r belongs to example r % B
    const Tensor eps = randn({n, b, l}, gen, q.mu.dtype());
    const Tensor z = reshape(q.mu + eps * s, {n * b, l});
    const Tensor xr = reshape(expand(unsqueeze(x, 0), {n, b, x.shape()[1]}), {n * b, x.shape()[1]});
    const Tensor log_px = reshape(opt_.likelihood.log_prob(decode(z), xr), {n, b});
    const Tensor log_pz = sum(square(reshape(z, {n, b, l})), {2}) * -0.5 - 0.5 * kLog2Pi * double(l);
    const Tensor log_qz = sum(square(eps) * -0.5 - log_s, {2}) - 0.5 * kLog2Pi * double(l);
    parts.push_back(log_px + log_pz - log_qz);  // [n, B]
  }
  const Tensor logw = parts.size() == 1 ? parts[0] : cat(parts, 0);
  return logsumexp(logw, 0) - std::log(double(k));
}

Tensor VAE::loss(const Tensor& x, Generator& gen, const TrainObjective& obj, int64_t step) const {
  if (obj.iw > 1) return -mean(iwae(x, gen, obj.iw, obj.iw));
  const Posterior q = encode(x);
  const Tensor s = q.std();
  Tensor log_px;
  for (int i = 0; i < obj.samples; ++i) {
    const Tensor z = q.mu + randn(q.mu.shape(), gen, q.mu.dtype()) * s;
    const Tensor lp = opt_.likelihood.log_prob(decode(z), x);
    log_px = log_px.defined() ? log_px + lp : lp;
  }
  const double batch = double(x.shape()[0]);
  Tensor rec = sum(log_px) * (1.0 / (batch * obj.samples));
  const double w = obj.warmup_steps > 0 ? obj.beta * std::min(1.0, double(step) / obj.warmup_steps) : obj.beta;
  Tensor kl;
  if (obj.free_bits > 0) {  // Kingma et al. 2016: sum_j max(lambda, E_batch KL_j)
    const Tensor per_dim = mean(kl_standard_normal(q, true), {0});
    kl = sum(maximum(per_dim, full({}, obj.free_bits, per_dim.dtype())));
  } else {
    kl = sum(kl_standard_normal(q)) * (1.0 / batch);
  }
  return w == 1.0 ? kl - rec : w * kl - rec;
}

Tensor VAE::sample_images(int64_t n, Generator& gen) const {
  NoGradGuard ng;
  return opt_.likelihood.mean(decode(randn({n, opt_.latent}, gen)));
}

Tensor VAE::reconstruct(const Tensor& x) const {
  NoGradGuard ng;
  return opt_.likelihood.mean(decode(encode(x).mu));
}

}  // namespace elbo::models
