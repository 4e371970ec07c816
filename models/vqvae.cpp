#include "models/vqvae.h"

#include <cmath>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "nn/activation.h"

namespace elbo::models {

VqVae::VqVae(const VqVaeOptions& o, Generator& gen) : opt_(o), head_(make_likelihood(o.likelihood)) {
  ELBO_CHECK_VALUE(o.downsample == 2 || o.downsample == 4, "VqVae: downsample {} must be 2 or 4", o.downsample);
  ELBO_CHECK_VALUE(o.height > 0 && o.width > 0 && o.height % o.downsample == 0 && o.width % o.downsample == 0,
                   "VqVae: images of {}x{} do not divide into a grid by the encoder's downsampling {} (each side "
                   "must be a multiple of it)",
                   o.height, o.width, o.downsample);
  ELBO_CHECK_VALUE(o.channels >= 1 && o.hidden >= 1, "VqVae: {} image channels, {} hidden channels", o.channels,
                   o.hidden);
  ELBO_CHECK_VALUE(head_->coupling_steps() == 0, "VqVae: the {} likelihood needs a flow decoder; the VQ-VAE's is "
                   "convolutional (choose another --likelihood)", head_->name());
  const int64_t h = o.hidden;
  nn::Sequential enc;
  enc.push_back(nn::Conv2d(o.channels, h, 4, 2, 1, true, gen));
  enc.push_back(nn::ReLU());
  if (o.downsample == 4) enc.push_back(nn::Conv2d(h, h, 4, 2, 1, true, gen));
  else enc.push_back(nn::Conv2d(h, h, 3, 1, 1, true, gen));
  enc.push_back(nn::ReLU());
  enc.push_back(nn::Conv2d(h, o.code_dim, 1, 1, 0, true, gen));
  encoder_ = &register_module("encoder", std::move(enc));
  vq_ = &register_module("quantizer", nn::VectorQuantizer(o.codes, o.code_dim, o.quantizer, gen));
  nn::Sequential dec;
  dec.push_back(nn::Conv2d(o.code_dim, h, 3, 1, 1, true, gen));
  dec.push_back(nn::ReLU());
  if (o.downsample == 4) {
    dec.push_back(nn::ConvTranspose2d(h, h, 4, 2, 1, 0, true, gen));
    dec.push_back(nn::ReLU());
  }
  dec.push_back(nn::ConvTranspose2d(h, head_->channels() * o.channels, 4, 2, 1, 0, true, gen));
  decoder_ = &register_module("decoder", std::move(dec));
}

std::string VqVae::describe() const {
  return fmt::format("VQ-VAE {}x{} -> {}x{} codes of {} x {}{}, {} likelihood", opt_.height, opt_.width,
                     grid_height(), grid_width(), opt_.codes, opt_.code_dim,
                     opt_.quantizer.ema_decay > 0 ? fmt::format(" (EMA {})", opt_.quantizer.ema_decay) : "",
                     head_->name());
}

Tensor VqVae::encode(const Tensor& x) const {
  const int64_t d = opt_.channels * opt_.height * opt_.width;
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 2 && x.size(1) == d,
                   "VqVae::encode: input {} must be [N, {}] ({} channel(s) of {}x{})", x.defined() ? x.shape() : Shape{},
                   d, opt_.channels, opt_.height, opt_.width);
  const Tensor z = encoder_->forward(reshape(x, {x.size(0), opt_.channels, opt_.height, opt_.width}));
  return permute(z, {0, 2, 3, 1});
}

Tensor VqVae::decode(const Tensor& z_q) const {
  ELBO_CHECK_SHAPE(z_q.defined() && z_q.dim() == 4 && z_q.size(1) == grid_height() && z_q.size(2) == grid_width() &&
                       z_q.size(3) == opt_.code_dim,
                   "VqVae::decode: input {} must be [N, {}, {}, {}]", z_q.defined() ? z_q.shape() : Shape{},
                   grid_height(), grid_width(), opt_.code_dim);
  return head_->rows(decoder_->forward(permute(z_q, {0, 3, 1, 2})));
}

VqVaeOutput VqVae::forward(const Tensor& x) {
  nn::Quantized q = vq_->forward(encode(x));
  Tensor out = decode(q.z_q);
  Tensor ll = head_->distribution(out).log_prob(x);
  return {std::move(out), std::move(q), std::move(ll)};
}

Tensor VqVae::codes(const Tensor& x) const {
  NoGradGuard ng;
  return vq_->nearest(encode(x));
}

Tensor VqVae::decode_codes(const Tensor& codes) const {
  ELBO_CHECK_SHAPE(codes.defined() && codes.dim() == 3 && codes.size(1) == grid_height() &&
                       codes.size(2) == grid_width(),
                   "VqVae::decode_codes: codes {} must be [N, {}, {}]", codes.defined() ? codes.shape() : Shape{},
                   grid_height(), grid_width());
  return decode(vq_->lookup(codes));
}

Tensor VqVae::reconstruct(const Tensor& x) const {
  NoGradGuard ng;
  return images(decode_codes(codes(x)));
}

Tensor VqVae::elbo(const Tensor& x) const {
  const Tensor ll = head_->distribution(decode_codes(codes(x))).log_prob(x);
  return ll - double(grid_height() * grid_width()) * std::log(double(opt_.codes));
}

}  // namespace elbo::models
