#pragma once
// MixtureSameFamily<D>(mixing, components), as torch.distributions.MixtureSameFamily: K components of one
// family D weighted by a Categorical over K. components.batch_shape() is [..., K]; the mixture's batch_shape is
// [...] (mixing's batch_shape must broadcast to it) and its event_shape is the components'. A mixture-of-
// Gaussians prior over [L] latents is MixtureSameFamily(Categorical(logits [K]),
// Independent(Normal(loc [K, L], scale [K, L]), 1)): batch_shape [], event_shape [L]. log_prob sums the component
// out (logsumexp); sample draws it, so there is no rsample (as torch). mean/variance exist when D has them.
// Both parts are held by value (handles: parameters and graph are shared).
// NOTE: torch 1.13 also accepts a mixing batch_shape that the components' must broadcast to (mixing [4] over
// components [1, K]), then reports batch_shape [1] while log_prob returns [4]; here that is a ShapeError. And
// where mixing's batch_shape is shorter than the mixture's, torch's sample fails in gather; here it is expanded.
#include <utility>

#include "categorical.h"

namespace elbo::dist {

template <Distribution D> class MixtureSameFamily {
 public:
  MixtureSameFamily(Categorical mixture_distribution, D component_distribution)
      : mix_(std::move(mixture_distribution)), comp_(std::move(component_distribution)) {
    // references, IntLists and pooled shapes, so building a mixture in a training step does not reach the heap
    const auto& cb = batch_dims_of(comp_);
    const auto& ce = event_dims_of(comp_);
    event_.assign(ce.begin(), ce.end());
    const IntList mb(mix_.logits().shape().data(), mix_.logits().shape().size() - 1);
    ELBO_CHECK_SHAPE(!cb.empty() && cb.back() == mix_.num_events(),
                     "MixtureSameFamily: mixture_distribution has K = {} components (logits {}) but "
                     "component_distribution has batch_shape {} (event_shape {}); its last batch dim must be K",
                     mix_.num_events(), mix_.logits().shape(), Shape(cb.begin(), cb.end()), Shape(comp_.event_shape()));
    batch_.assign(cb.begin(), cb.end() - 1);
    bool fits = mb.size() <= batch_.size();
    for (size_t i = 1; fits && i <= mb.size(); ++i)
      fits = mb[mb.size() - i] == 1 || mb[mb.size() - i] == batch_[batch_.size() - i];
    ELBO_CHECK_SHAPE(fits,
                     "MixtureSameFamily: mixture_distribution batch_shape {} does not broadcast to the mixture's "
                     "batch_shape {} (component_distribution batch_shape {} without its last dim K = {})",
                     mb.vec(), batch_shape(), Shape(cb.begin(), cb.end()), cb.back());
  }

  const Categorical& mixture_distribution() const { return mix_; }
  const D& component_distribution() const { return comp_; }
  Shape batch_shape() const { return Shape(batch_.begin(), batch_.end()); }
  decltype(auto) event_shape() const { return comp_.event_shape(); }
  int64_t batch_ndim() const { return int64_t(batch_.size()); }
  int64_t event_ndim() const { return event_ndims(); }

  // log p(x) = logsumexp_k [log pi_k + log p_k(x)], x [..., batch, event] unsqueezed at the component dim
  // (mixing's logits are normalized, so they are log pi).
  Tensor log_prob(const Tensor& x) const {
    check_value_shape("MixtureSameFamily", x, batch_, event_);
    const Tensor lp = comp_.log_prob(unsqueeze(x, -1 - event_ndims()));  // [..., batch, K]
    return logsumexp(lp + mix_.logits(), -1);
  }

  // k ~ mixing, every component drawn, component k gathered: [sample ++ batch ++ event], no gradient.
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const
    requires Samplable<D>
  {
    NoGradGuard no_grad;
    const Shape es = event_shape(), mb = mix_.batch_shape(), bs = batch_shape();
    const int64_t dim = int64_t(sample_shape.size() + bs.size());  // the component dim of the draws
    Shape aligned = sample_shape;  // the mixing draws [sample ++ mb], with 1s where mb is shorter than batch
    aligned.insert(aligned.end(), bs.size() - mb.size(), 1);
    aligned.insert(aligned.end(), mb.begin(), mb.end());
    Shape one_k = extended_shape(sample_shape, bs, {1});
    one_k.insert(one_k.end(), es.size(), 1);
    const Tensor k = reshape(mix_.sample(gen, sample_shape), aligned);
    const Tensor index = expand_to(reshape(expand_to(k, extended_shape(sample_shape, bs)), one_k),
                                   extended_shape(extended_shape(sample_shape, bs, {1}), {}, es));
    return squeeze(gather(comp_.sample(gen, sample_shape), dim, index), dim).detach();
  }

  // E[x] = sum_k pi_k mean_k
  Tensor mean() const
    requires HasMoments<D>
  {
    return sum(weights() * comp_.mean(), {-1 - event_ndims()});
  }
  // Law of total variance (elementwise over the event): Var[x] = E_k[var_k] + Var_k[mean_k]
  //   = sum_k pi_k (var_k + (mean_k - mean)^2).
  Tensor variance() const
    requires HasMoments<D>
  {
    const int64_t kd = -1 - event_ndims();
    const Tensor w = weights(), m = comp_.mean();
    const Tensor mu = sum(w * m, {kd}, true);
    return sum(w * (comp_.variance() + square(m - mu)), {kd});
  }

 private:
  // A family's shapes in pooled storage where it offers them (Independent), else as it returns them.
  static decltype(auto) batch_dims_of(const D& d) {
    if constexpr (requires { d.batch_dims(); }) return d.batch_dims();
    else return d.batch_shape();
  }
  static decltype(auto) event_dims_of(const D& d) {
    if constexpr (requires { d.event_dims(); }) return d.event_dims();
    else return d.event_shape();
  }
  int64_t event_ndims() const { return int64_t(event_.size()); }
  // pi [mixing batch, K] with a 1 per event dim, so it lines up with the components' [batch, K, event].
  Tensor weights() const {
    Tensor w = mix_.probs();
    for (int64_t i = 0; i < event_ndims(); ++i) w = unsqueeze(w, -1);
    return w;
  }

  Categorical mix_;
  D comp_;
  detail::Dims batch_, event_;
};

}  // namespace elbo::dist
