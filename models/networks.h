#pragma once
// The zoo's architectures as modules, picked once from an Arch parsed at the command line's edge. Names
// and shapes are PyTorch's, so checkpoints load there (README lists the equivalent torch modules):
//   mlp   encoder fc1 D->H, fc21 / fc22 H->L (loc / log-variance); decoder fc3 L->H, fc4 H->D'
//         (examples/vae); the autoencoder's code encoder fc1 D->H, fc2 H->L
//   conv  encoder = Sequential(Conv2d(1,32,4,2,1), ReLU, Conv2d(32,64,4,2,1), ReLU, Flatten,
//         Linear(64*7*7, 2L)), loc / log-variance its halves; decoder = Sequential(Linear(L, 64*7*7), ReLU,
//         Unflatten(1, [64, 7, 7]), ConvTranspose2d(64,32,4,2,1), ReLU, ConvTranspose2d(32,C,4,2,1)); the
//         code encoder is the same stack with a Linear(64*7*7, L) head. 7 x 7 is for 28x28 images: H x W
//         images (H and W multiples of 4) use H/4 x W/4
// With --posterior full or lowrank:R the MLP encoder has one more head, fc23 H->L(L-1)/2 or H->L*R, and the
// conv encoder's last Linear grows by as many outputs (after loc and log-variance); those start at zero,
// so q(z|x) starts as the diagonal posterior (2.4 nats better after 30 epochs than a random start).
// An Encoder returns q(z | x), a Decoder p(x | z), both distribution objects; a model registers them with
// nn::Module::register_inline so their parameters keep the flat names above.
#include <memory>
#include <string>
#include <string_view>

#include "../nn/nn.h"
#include "likelihood.h"

namespace elbo::models {

enum class Arch { mlp, conv };
Arch parse_arch(std::string_view name);  // "mlp" | "conv"
std::string_view arch_name(Arch a);

// The family of q(z | x) the encoder emits (README, "Posteriors"):
//   diagonal    Independent(Normal(loc, exp(logvar / 2)), 1)
//   full        MultivariateNormal(loc, L), L = diag(exp(logvar / 2)) + a strictly lower triangle of
//               L(L-1)/2 entries, 0.01 times one more head's outputs (fc23; the scale: networks.cpp)
//   lowrank:R   LowRankMultivariateNormal(loc, W, exp(logvar)), W [L, R] = 0.01 times fc23's outputs
struct Posterior {
  enum class Kind { diagonal, full, lowrank } kind = Kind::diagonal;
  int64_t rank = 0;  // lowrank's R
  int64_t extra_features(int64_t latent) const;  // fc23's outputs: 0, L(L-1)/2 or L R
};
Posterior parse_posterior(std::string_view name);  // "diagonal" | "full" | "lowrank:R"
namespace detail {
// The K of a flag value "kind:K": an integer in [1, max], else 0 (the caller's error names the choices).
int64_t parse_count(std::string_view text, int64_t max);
}  // namespace detail
std::string posterior_name(const Posterior& p);

struct NetworkOptions {
  Arch arch = Arch::mlp;
  int64_t height = 28, width = 28;  // the images; D = height * width
  int64_t hidden = 400;             // MLP hidden units
  int64_t latent = 20;
  Posterior posterior{};
  // C > 0: a conditional model's networks (conditional.h). The encoder reads [B, D + C] (the image, then
  // C conditioning features, e.g. one_hot(y)), the decoder [N, L + C]; the MLP's fc1 and fc3 and the conv
  // decoder's first Linear take C more inputs, and the conv encoder appends them to its flattened
  // features before its head, a Linear of its own (encoder.0-4 the stack, head the Linear).
  int64_t condition = 0;
};

// q(z | x) as a diagonal Normal: Independent(Normal(loc, exp(logvar / 2)), 1), batch [B], event [L]. The
// second head emits the log-variance, as PyTorch's examples/vae does; exp keeps the scale positive
// without clipping and makes the analytic KL to N(0, I) a polynomial in loc and exp(logvar).
dist::AnyDistribution diagonal_normal(const Tensor& loc, const Tensor& logvar);

class Encoder : public nn::Module {
 public:
  Encoder() = default;
  explicit Encoder(const NetworkOptions& o);
  struct Params {
    Tensor loc, logvar;  // [B, L]
    Tensor extra{};      // [B, posterior.extra_features(L)]: the lower triangle or the factor; else undefined
    Tensor context{};    // [B, context_features()]: the features flows condition on (models/flows.h)
  };
  virtual Params params(const Tensor& x) const = 0;  // x [B, D] (or [B, D + C], NetworkOptions::condition)
  virtual int64_t context_features() const { return 0; }
  dist::AnyDistribution forward(const Tensor& x) const { return distribution(params(x)); }
  dist::AnyDistribution distribution(const Params& p) const;  // q(z | x) from the heads' outputs
  const Posterior& posterior() const { return posterior_; }

 private:
  Posterior posterior_;
  Tensor tril_map_;  // full: where each entry of L reads the padded extra vector (networks.cpp)
};

class Decoder : public nn::Module {
 public:
  explicit Decoder(std::shared_ptr<const Likelihood> head) : head_(std::move(head)) {}
  virtual Tensor params(const Tensor& z) const = 0;  // z [N, L] (or [N, L + C]) -> [N, head().out_features(D)]
  virtual dist::AnyDistribution forward(const Tensor& z) const { return head_->distribution(params(z)); }
  virtual Tensor mean(const Tensor& z) const { return head_->mean(params(z)); }  // images [N, D] in [0, 1]
  const Likelihood& head() const { return *head_; }

 private:
  std::shared_ptr<const Likelihood> head_;
};

// The autoencoder's deterministic encoder: x [B, D] -> code [B, L].
class CodeEncoder : public nn::Module {
 public:
  virtual Tensor forward(const Tensor& x) const = 0;
};

std::unique_ptr<Encoder> make_encoder(const NetworkOptions& o, Generator& gen);
std::unique_ptr<Decoder> make_decoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen);
std::unique_ptr<CodeEncoder> make_code_encoder(const NetworkOptions& o, Generator& gen);

// The sizes for reports: "784-400-20" (mlp) or "28x28 latent 20" (conv).
std::string describe(const NetworkOptions& o);

}  // namespace elbo::models
