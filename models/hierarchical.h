#pragma once
// Hierarchical VAEs: L >= 1 stochastic layers z_1 (next to x) ... z_L (top), as in Burda et al. 2016:
//   p(x, z) = p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2) p(x | z_1),   p(z_L) = N(0, I)
//   q(z | x) = q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})
// Prior and posterior are dist::Chain over one layout [z_1, ..., z_L] (distributions/chain.h; with one
// layer, q(z_1 | x) and N(0, I) themselves, so the KL has its closed form as in a plain VAE), the
// likelihood reads z_1: an AmortizedModel like any other, scored by the same estimators (estimators.h;
// layer_report gives the KL and active units per layer). Each conditional is a module returning a
// distribution: MlpConditional is the paper's (a tanh MLP and a head); a user's own may be anything.
//   HierarchicalVae vae;
//   vae.add_layer(100, std::make_unique<MlpConditional>(784, Sizes{200, 200}, 100, gaussian_head(), gen),
//                 std::make_unique<MlpConditional>(100, Sizes{200, 200}, 784, make_likelihood(), gen));
//   vae.add_layer(50, ...q(z_2 | z_1)..., ...p(z_1 | z_2)...);
// Parameters are named q1.*, q2.* (q(z_1 | x), q(z_2 | z_1)) and p0.*, p1.* (p(x | z_1), p(z_1 | z_2)).
#include <memory>
#include <string>
#include <vector>

#include "../distributions/chain.h"
#include "../nn/nn.h"
#include "likelihood.h"
#include "model.h"

namespace elbo::models {

using Sizes = std::vector<int64_t>;

// A network that maps its input [N, in] to a distribution with batch [N] (a stochastic layer's q or p).
class Conditional : public nn::Module {
 public:
  virtual dist::AnyDistribution forward(const Tensor& x) const = 0;
};

// How a Gaussian head turns its second half into the scale: exp (Burda et al.'s code) or softplus.
enum class ScaleLink { exp, softplus };
ScaleLink parse_scale_link(const std::string& name);  // "exp" | "softplus"; else a ValueError naming it

// The head of a Gaussian stochastic layer: Independent(Normal(loc, link(raw)), 1) from [N, 2d] = loc ++ raw
// (by default the scale is the exponential of the head, as Burda et al.'s code has it).
std::shared_ptr<const Likelihood> gaussian_head(ScaleLink link = ScaleLink::exp);

// in -> hidden[0] -> ... (tanh after each) -> a Linear head emitting head->out_features(out) numbers, the
// distribution head->distribution of them. Parameters: net.{0,2,...}.{weight,bias}, head.{weight,bias}.
// Glorot-uniform weights, zero biases; the head's weight is initialized as `head->out_features(out) / out`
// separate layers of `out` outputs each (Burda et al.'s separate loc and log-scale layers).
class MlpConditional : public Conditional {
 public:
  MlpConditional(int64_t in, const Sizes& hidden, int64_t out, std::shared_ptr<const Likelihood> head, Generator& gen);
  dist::AnyDistribution forward(const Tensor& x) const override;
  std::string extra_repr() const override;
  const nn::Linear& output() const { return head_; }  // the head's Linear (its bias: a data-mean start)

 private:
  int64_t in_, out_;
  nn::Sequential& net_;
  nn::Linear& head_;
  std::shared_ptr<const Likelihood> dist_;
};

class HierarchicalVae : public nn::Module, public AmortizedModel {
 public:
  HierarchicalVae() = default;
  // Adds the next stochastic layer, bottom first: its size d_i, q(z_i | z_{i-1}) (q(z_1 | x) for the
  // first) and p(z_{i-1} | z_i) (p(x | z_1) for the first).
  HierarchicalVae& add_layer(int64_t dim, std::unique_ptr<Conditional> up, std::unique_ptr<Conditional> down);

  dist::AnyDistribution prior() const override;                     // a top-down Chain, layout [z_1..z_L]
  dist::AnyDistribution posterior(const Tensor& x) const override;  // a bottom-up Chain
  dist::AnyDistribution likelihood(const Tensor& z) const override;  // p(x | z_1), z [N, sum d_i]
  int64_t layers() const { return int64_t(sizes_.size()); }
  const Sizes& sizes() const { return sizes_; }
  std::string describe() const;
  void set_description(std::string d) { description_ = std::move(d); }

 private:
  Sizes sizes_;
  std::vector<const Conditional*> up_, down_;
  std::string description_;
  Tensor probe_;                           // the first parameter, whose dtype the prior follows
  mutable dist::AnyDistribution top_;      // p(z_L) = N(0, I), built once per dtype
  mutable DType top_dtype_ = DType::f32;
  // The chains' links (q(z_{i+1} | z_i) bottom-up, p(z_i | z_{i+1}) top-down), made once in add_layer and
  // shared by every chain prior() and posterior() build, so a training step allocates none.
  std::shared_ptr<const std::vector<dist::Chain::Link>> q_links_, p_links_;
};

// Burda et al. 2016's MNIST models (section 5): one stochastic layer, q 784-200-200-(50) and p
// 50-200-200-784; two, q 784-200-200-(100)-100-100-(50) and p 50-100-100-(100)-200-200-784. Tanh MLPs,
// Gaussian layers with scale = exp(head) (or `scale`), a Bernoulli likelihood. layers: 1 or 2, else a ValueError.
std::unique_ptr<HierarchicalVae> make_burda(int64_t layers, int64_t pixels, Generator& gen,
                                            ScaleLink scale = ScaleLink::exp);
// Starts the Bernoulli likelihood's output bias at the logit of the per-pixel training mean, clipped to
// [0.001, 0.999] (as Burda et al.'s code does): mean [D].
void init_output_bias(HierarchicalVae& m, const Tensor& mean);

}  // namespace elbo::models
