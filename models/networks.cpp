// The MLP and convolutional encoders and decoders of networks.h.
#include "models/networks.h"

#include "distributions/independent.h"
#include "distributions/normal.h"

namespace elbo::models {

Arch parse_arch(std::string_view s) {
  if (s == "mlp") return Arch::mlp;
  if (s == "conv") return Arch::conv;
  throw ValueError(fmt::format("--arch: '{}' is not one of mlp, conv", s));
}

std::string_view arch_name(Arch a) { return a == Arch::mlp ? "mlp" : "conv"; }

std::string describe(const NetworkOptions& o) {
  if (o.arch == Arch::mlp) return fmt::format("{}-{}-{}", o.height * o.width, o.hidden, o.latent);
  return fmt::format("{}x{} latent {}", o.height, o.width, o.latent);
}

dist::AnyDistribution diagonal_normal(const Tensor& loc, const Tensor& logvar) {
  return dist::Independent(dist::Normal(loc, exp(0.5 * logvar)), 1);
}

dist::AnyDistribution Encoder::forward(const Tensor& x) const {
  const Params p = params(x);
  return diagonal_normal(p.loc, p.logvar);
}

namespace {

void check_input(const char* what, const NetworkOptions& o, const Tensor& x) {
  const int64_t d = o.height * o.width;
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 2 && x.size(1) == d, "{}: input {} is not [B, {}]", what,
                   x.defined() ? x.shape() : Shape{}, d);
}

void check_conv_size(const NetworkOptions& o) {
  ELBO_CHECK_VALUE(o.height == 28 && o.width == 28, "conv architecture: it is built for 28x28 images, got {}x{}",
                   o.height, o.width);
}

// The conv stacks (networks.h), shared by the VAE's encoder, the code encoder and the decoder.
nn::Sequential conv_encoder_stack(int64_t out_features, Generator& gen) {
  return nn::Sequential(nn::Conv2d(1, 32, 4, 2, 1, true, gen), nn::ReLU(), nn::Conv2d(32, 64, 4, 2, 1, true, gen),
                        nn::ReLU(), nn::Flatten(), nn::Linear(64 * 7 * 7, out_features, gen));
}

class MlpEncoder final : public Encoder {
 public:
  MlpEncoder(const NetworkOptions& o, Generator& gen)
      : o_(o),
        fc1_(register_module("fc1", nn::Linear(o.height * o.width, o.hidden, gen))),
        fc21_(register_module("fc21", nn::Linear(o.hidden, o.latent, gen))),
        fc22_(register_module("fc22", nn::Linear(o.hidden, o.latent, gen))) {}
  Params params(const Tensor& x) const override {
    check_input("VAE encoder", o_, x);
    const Tensor h = relu(fc1_.forward(x));
    return {fc21_.forward(h), fc22_.forward(h)};
  }

 private:
  NetworkOptions o_;
  nn::Linear &fc1_, &fc21_, &fc22_;
};

class ConvEncoder final : public Encoder {
 public:
  ConvEncoder(const NetworkOptions& o, Generator& gen)
      : o_((check_conv_size(o), o)), net_(register_module("encoder", conv_encoder_stack(2 * o.latent, gen))) {}
  Params params(const Tensor& x) const override {
    check_input("VAE encoder", o_, x);
    const Tensor h = net_.forward(reshape(x, {x.size(0), 1, o_.height, o_.width}));
    return {narrow(h, 1, 0, o_.latent), narrow(h, 1, o_.latent, o_.latent)};
  }

 private:
  NetworkOptions o_;
  nn::Sequential& net_;
};

class MlpDecoder final : public Decoder {
 public:
  MlpDecoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen)
      : Decoder(head),
        fc3_(register_module("fc3", nn::Linear(o.latent, o.hidden, gen))),
        fc4_(register_module("fc4", nn::Linear(o.hidden, head->out_features(o.height * o.width), gen))) {}
  Tensor params(const Tensor& z) const override { return fc4_.forward(relu(fc3_.forward(z))); }

 private:
  nn::Linear &fc3_, &fc4_;
};

class ConvDecoder final : public Decoder {
 public:
  ConvDecoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen)
      : Decoder((check_conv_size(o), head)),
        net_(register_module(
            "decoder", nn::Sequential(nn::Linear(o.latent, 64 * 7 * 7, gen), nn::ReLU(), nn::Unflatten(1, {64, 7, 7}),
                                      nn::ConvTranspose2d(64, 32, 4, 2, 1, 0, true, gen), nn::ReLU(),
                                      nn::ConvTranspose2d(32, head->channels(), 4, 2, 1, 0, true, gen)))) {}
  Tensor params(const Tensor& z) const override { return head().rows(net_.forward(z)); }

 private:
  nn::Sequential& net_;
};

class MlpCodeEncoder final : public CodeEncoder {
 public:
  MlpCodeEncoder(const NetworkOptions& o, Generator& gen)
      : o_(o),
        fc1_(register_module("fc1", nn::Linear(o.height * o.width, o.hidden, gen))),
        fc2_(register_module("fc2", nn::Linear(o.hidden, o.latent, gen))) {}
  Tensor forward(const Tensor& x) const override {
    check_input("autoencoder encoder", o_, x);
    return fc2_.forward(relu(fc1_.forward(x)));
  }

 private:
  NetworkOptions o_;
  nn::Linear &fc1_, &fc2_;
};

class ConvCodeEncoder final : public CodeEncoder {
 public:
  ConvCodeEncoder(const NetworkOptions& o, Generator& gen)
      : o_((check_conv_size(o), o)), net_(register_module("encoder", conv_encoder_stack(o.latent, gen))) {}
  Tensor forward(const Tensor& x) const override {
    check_input("autoencoder encoder", o_, x);
    return net_.forward(reshape(x, {x.size(0), 1, o_.height, o_.width}));
  }

 private:
  NetworkOptions o_;
  nn::Sequential& net_;
};

}  // namespace

std::unique_ptr<Encoder> make_encoder(const NetworkOptions& o, Generator& gen) {
  if (o.arch == Arch::mlp) return std::make_unique<MlpEncoder>(o, gen);
  return std::make_unique<ConvEncoder>(o, gen);
}

std::unique_ptr<Decoder> make_decoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen) {
  ELBO_CHECK(head, "make_decoder: the likelihood head is null");
  if (o.arch == Arch::mlp) return std::make_unique<MlpDecoder>(o, std::move(head), gen);
  return std::make_unique<ConvDecoder>(o, std::move(head), gen);
}

std::unique_ptr<CodeEncoder> make_code_encoder(const NetworkOptions& o, Generator& gen) {
  if (o.arch == Arch::mlp) return std::make_unique<MlpCodeEncoder>(o, gen);
  return std::make_unique<ConvCodeEncoder>(o, gen);
}

}  // namespace elbo::models
