// The MLP and convolutional encoders and decoders of networks.h.
#include "models/networks.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "distributions/independent.h"
#include "distributions/multivariate_normal.h"
#include "distributions/normal.h"
#include "models/flows.h"

namespace elbo::models {

Arch parse_arch(std::string_view s) {
  if (s == "mlp") return Arch::mlp;
  if (s == "conv") return Arch::conv;
  throw ValueError(fmt::format("--arch: '{}' is not one of mlp, conv", s));
}

std::string_view arch_name(Arch a) { return a == Arch::mlp ? "mlp" : "conv"; }

std::string describe(const NetworkOptions& o) {
  const std::string q = o.posterior.kind == Posterior::Kind::diagonal ? "" : ", q " + posterior_name(o.posterior);
  if (o.arch == Arch::mlp) return fmt::format("{}-{}-{}{}", o.height * o.width, o.hidden, o.latent, q);
  return fmt::format("{}x{} latent {}{}", o.height, o.width, o.latent, q);
}

dist::AnyDistribution diagonal_normal(const Tensor& loc, const Tensor& logvar) {
  return dist::Independent(dist::Normal(loc, exp(0.5 * logvar)), 1);
}

int64_t detail::parse_count(std::string_view text, int64_t max) {
  const std::string t(text);
  char* end = nullptr;
  const long long n = std::strtoll(t.c_str(), &end, 10);
  return !t.empty() && *end == '\0' && n >= 1 && n <= max ? n : 0;
}

int64_t Posterior::extra_features(int64_t latent) const {
  switch (kind) {
    case Kind::diagonal: return 0;
    case Kind::full: return latent * (latent - 1) / 2;
    case Kind::lowrank: return latent * rank;
  }
  return 0;
}

Posterior parse_posterior(std::string_view s) {
  if (s == "diagonal") return {};
  if (s == "full") return {Posterior::Kind::full, 0};
  if (s.starts_with("lowrank:")) {
    const int64_t rank = detail::parse_count(s.substr(8), 1024);
    if (rank > 0) return {Posterior::Kind::lowrank, rank};
  }
  throw ValueError(fmt::format("--posterior: '{}' is not one of diagonal, full, lowrank:R (R a rank in [1, 1024])", s));
}

std::string posterior_name(const Posterior& p) {
  switch (p.kind) {
    case Posterior::Kind::diagonal: return "diagonal";
    case Posterior::Kind::full: return "full";
    case Posterior::Kind::lowrank: return fmt::format("lowrank:{}", p.rank);
  }
  return "";
}

namespace {
// The covariance head's outputs enter L (or the factor W) scaled by 0.01, so Adam, whose steps do not
// depend on a gradient's scale, moves those entries 100 times slower than loc and the diagonal: their
// gradients are mostly Monte Carlo noise, and at scale 1 a full-covariance q trained 3.3 nats below the
// diagonal one on the MNIST digits. Measured (30 epochs, test ELBO): scale 1 -112.3, 0.1 -108.3,
// 0.01 -107.9, 0.001 -108.2 (the diagonal q: -109.0).
constexpr double kExtraScale = 0.01;

// Positions of the strictly lower triangle of an L x L matrix, row by row, as indices into
// [0, extra...]: entry (i, j < i) of the flattened matrix reads element 1 + k of the padded vector,
// every other entry element 0 (a zero).
Tensor lower_triangle_map(int64_t latent) {
  std::vector<int64_t> map(size_t(latent * latent), 0);
  int64_t k = 1;
  for (int64_t i = 0; i < latent; ++i)
    for (int64_t j = 0; j < i; ++j) map[size_t(i * latent + j)] = k++;
  return tensor(map, {latent * latent}, DType::i64);
}
}  // namespace

Encoder::Encoder(const NetworkOptions& o) : posterior_(o.posterior) {
  if (o.posterior.kind == Posterior::Kind::full) tril_map_ = lower_triangle_map(o.latent);
}

dist::AnyDistribution Encoder::distribution(const Params& p) const {
  const int64_t b = p.loc.size(0), l = p.loc.size(1);
  switch (posterior_.kind) {
    case Posterior::Kind::diagonal: return diagonal_normal(p.loc, p.logvar);
    case Posterior::Kind::full: {
      const Tensor padded = cat({zeros({b, 1}, p.extra.dtype()), p.extra * kExtraScale}, 1);
      const Tensor lower = reshape(index_select(padded, 1, tril_map_), {b, l, l});
      return dist::MultivariateNormal(p.loc, lower + diag_embed(exp(0.5 * p.logvar)));
    }
    case Posterior::Kind::lowrank:
      return dist::LowRankMultivariateNormal(p.loc, reshape(p.extra * kExtraScale, {b, l, posterior_.rank}),
                                             exp(p.logvar));
  }
  return {};
}

namespace {

void check_input(const char* what, const NetworkOptions& o, const Tensor& x) {
  const int64_t d = o.height * o.width + o.condition;
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 2 && x.size(1) == d, "{}: input {} is not [B, {}]", what,
                   x.defined() ? x.shape() : Shape{}, d);
}

// The conv stacks halve the image twice (kernel 4, stride 2, padding 1) and the decoder doubles it back:
// H and W must be multiples of 4.
void check_conv_size(const NetworkOptions& o) {
  ELBO_CHECK_VALUE(o.height >= 4 && o.width >= 4 && o.height % 4 == 0 && o.width % 4 == 0,
                   "conv architecture: its two stride-2 layers need image sides that are multiples of 4, got {}x{}",
                   o.height, o.width);
}

// The conv stacks (networks.h), shared by the VAE's encoder, the code encoder and the decoder: the
// convolutions to flattened features, then (unless out_features is 0) the head.
int64_t conv_features(const NetworkOptions& o) { return 64 * (o.height / 4) * (o.width / 4); }
nn::Sequential conv_encoder_stack(const NetworkOptions& o, int64_t out_features, Generator& gen) {
  nn::Sequential s(nn::Conv2d(1, 32, 4, 2, 1, true, gen), nn::ReLU(), nn::Conv2d(32, 64, 4, 2, 1, true, gen),
                   nn::ReLU(), nn::Flatten());
  if (out_features > 0) s.push_back(nn::Linear(conv_features(o), out_features, gen));
  return s;
}

// Rows [from, out) of a head's weight and bias start at zero (the covariance head: q starts diagonal).
void zero_rows(Tensor& t, int64_t from) {
  const int64_t row = t.numel() / t.size(0);  // elements per output row
  float* p = t.data<float>();
  std::fill(p + from * row, p + t.numel(), 0.0f);
}

class MlpEncoder final : public Encoder {
 public:
  MlpEncoder(const NetworkOptions& o, Generator& gen)
      : Encoder(o),
        o_(o),
        fc1_(register_module("fc1", nn::Linear(o.height * o.width + o.condition, o.hidden, gen))),
        fc21_(register_module("fc21", nn::Linear(o.hidden, o.latent, gen))),
        fc22_(register_module("fc22", nn::Linear(o.hidden, o.latent, gen))),
        fc23_(o.posterior.extra_features(o.latent) > 0
                  ? &register_module("fc23", nn::Linear(o.hidden, o.posterior.extra_features(o.latent), gen))
                  : nullptr) {
    // the off-diagonal head starts at zero, so q(z|x) starts as the diagonal posterior
    if (fc23_) nn::init::zeros_(fc23_->weight()), nn::init::zeros_(fc23_->bias());
  }
  Params params(const Tensor& x) const override {
    check_input("VAE encoder", o_, x);
    const Tensor h = relu(fc1_.forward(x));
    return {fc21_.forward(h), fc22_.forward(h), fc23_ ? fc23_->forward(h) : Tensor(), h};
  }
  int64_t context_features() const override { return o_.hidden; }

 private:
  NetworkOptions o_;
  nn::Linear &fc1_, &fc21_, &fc22_;
  nn::Linear* fc23_;
};

class ConvEncoder final : public Encoder {
 public:
  ConvEncoder(const NetworkOptions& o, Generator& gen)
      : Encoder(o),
        o_((check_conv_size(o), o)),
        net_(register_module("encoder", conv_encoder_stack(o, o.condition > 0 ? 0 : head_features(o), gen))),
        head_(o.condition > 0 ? &register_module("head", nn::Linear(conv_features(o) + o.condition, head_features(o), gen))
                              : nullptr) {
    // the head's rows past loc and log-variance start at zero, as the MLP's fc23: q(z|x) starts diagonal
    if (o.posterior.extra_features(o.latent) == 0) return;
    for (auto& [name, t] : (head_ ? head_->named_parameters() : net_.named_parameters()))
      if (name == "weight" || name == "bias" || name == "5.weight" || name == "5.bias") zero_rows(t, 2 * o.latent);
  }
  Params params(const Tensor& x) const override {
    check_input("VAE encoder", o_, x);
    const int64_t d = o_.height * o_.width, l = o_.latent, e = o_.posterior.extra_features(l);
    const Tensor image = reshape(o_.condition > 0 ? narrow(x, 1, 0, d) : x, {x.size(0), 1, o_.height, o_.width});
    Tensor h = net_.forward(image);
    if (head_) h = head_->forward(cat({h, narrow(x, 1, d, o_.condition)}, 1));
    return {narrow(h, 1, 0, l), narrow(h, 1, l, l), e > 0 ? narrow(h, 1, 2 * l, e) : Tensor(), h};
  }
  // the conv stack ends in the heads' Linear: flows condition on all of its outputs
  int64_t context_features() const override { return head_features(o_); }

 private:
  static int64_t head_features(const NetworkOptions& o) { return 2 * o.latent + o.posterior.extra_features(o.latent); }
  NetworkOptions o_;
  nn::Sequential& net_;
  nn::Linear* head_;  // conditional only: the head, reading the features and the condition
};

class MlpDecoder final : public Decoder {
 public:
  MlpDecoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen)
      : Decoder(head),
        fc3_(register_module("fc3", nn::Linear(o.latent + o.condition, o.hidden, gen))),
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
            "decoder", nn::Sequential(nn::Linear(o.latent + o.condition, conv_features(o), gen), nn::ReLU(),
                                      nn::Unflatten(1, {64, o.height / 4, o.width / 4}),
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
      : o_((check_conv_size(o), o)), net_(register_module("encoder", conv_encoder_stack(o, o.latent, gen))) {}
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
  if (head->coupling_steps() > 0) return std::make_unique<FlowDecoder>(o, std::move(head), gen);
  if (o.arch == Arch::mlp) return std::make_unique<MlpDecoder>(o, std::move(head), gen);
  return std::make_unique<ConvDecoder>(o, std::move(head), gen);
}

std::unique_ptr<CodeEncoder> make_code_encoder(const NetworkOptions& o, Generator& gen) {
  if (o.arch == Arch::mlp) return std::make_unique<MlpCodeEncoder>(o, gen);
  return std::make_unique<ConvCodeEncoder>(o, gen);
}

}  // namespace elbo::models
