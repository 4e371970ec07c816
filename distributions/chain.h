#pragma once
// Chain: the joint distribution of a chain of stochastic layers, p(z_a) p(z_b | z_a) p(z_c | z_b) ..., over
// the concatenation of the layers' values along the last dim (event [d_1 + ... + d_L]). It is what a
// hierarchical latent-variable model's prior and posterior are (Burda et al. 2016, section 5):
//   posterior  q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})   sampled bottom-up, layout [z_1, ..., z_L]
//   prior      p(z_L) p(z_{L-1} | z_L) ... p(z_1 | z_2)       sampled top-down, the same layout (reversed)
// so estimators that see only log_prob and rsample score a hierarchy as any other model.
// The root is a distribution over [..., d] (any batch shape); each link maps the previous layer's value,
// flattened to rows [N, d_prev], to a distribution with batch [N] and event [d_next] (a network's output,
// say). Sample dims stay leading: rsample(gen, {S}) of a posterior with batch [B] is [S, B, sum d].
// A copy shares the root and the links (functions, usually holding pointers into a model that outlives it).
// A model that builds its chain every step passes its links as one shared vector, made once: then
// building, sampling and scoring the chain make no heap allocation (links that return families which
// answer their shapes by reference, as Independent<Normal> does).
#include <functional>
#include <memory>
#include <vector>

#include "any.h"

namespace elbo::dist {

class Chain {
 public:
  struct Link {
    int64_t size;  // d of the layer it emits
    std::function<AnyDistribution(const Tensor&)> fn;
  };
  // reversed: the layers sit in the value in the reverse of their sampling order (a top-down prior).
  Chain(AnyDistribution root, std::vector<Link> links, bool reversed = false);
  // The same over links made once and shared (a model's, built when its layers are added): no copy.
  static Chain sharing(AnyDistribution root, std::shared_ptr<const std::vector<Link>> links, bool reversed = false);

  Shape batch_shape() const { return root_.batch_shape(); }
  Shape event_shape() const { return {total_}; }
  int64_t layers() const { return int64_t(links_->size()) + 1; }
  // The layers' sizes in the value's layout (left to right).
  std::vector<int64_t> sizes() const;

  Tensor log_prob(const Tensor& value) const;
  // Each layer's conditional log-density at value, in the layout's order: [..., ] each, summing to log_prob.
  std::vector<Tensor> log_prob_layers(const Tensor& value) const;
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;
  // The chain of means: the root's mean, each link's mean at the previous layer's mean (not E[z] for
  // nonlinear links: a point for reconstructions). Throws unless every layer has moments.
  Tensor location() const;
  // Each layer's mean given the previous layer drawn from the chain (one draw), in layout order: the
  // statistic of Burda et al.'s active units for layers above the first (E_q[z_i | z_{i-1}], z_{i-1} ~ q).
  std::vector<Tensor> layer_means(Generator& gen) const;

 private:
  using Tensors = detail::PooledVector<Tensor>;
  struct Shared {};
  Chain(Shared, AnyDistribution root, std::shared_ptr<const std::vector<Link>> links, bool reversed);
  template <class Draw> Tensor draw(const Shape& sample_shape, Draw next) const;
  Tensors layers_log_prob(const Tensor& value) const;         // log_prob_layers, pooled
  // The layers of value in sampling order (views along the last dim).
  Tensors split_sampling_order(const Tensor& value) const;
  AnyDistribution at(size_t link, const Tensor& prev) const;  // link's distribution for prev [..., d]
  Tensor assemble(Tensors parts) const;                       // sampling order -> layout
  AnyDistribution root_;
  std::shared_ptr<const std::vector<Link>> links_;
  bool reversed_;
  int64_t root_size_, total_;
};

}  // namespace elbo::dist
