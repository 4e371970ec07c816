#pragma once
// Independent<D>(base, n), as torch.distributions.Independent: the last n batch dims of base become event
// dims, so log_prob and entropy sum over them (and kl_divergence, see kl.h). A diagonal Gaussian over
// [B, L] latents is Independent<Normal>(Normal(mu, sigma), 1): batch_shape [B], event_shape [L].
// It holds base by value (a copy of handles: parameters and graph are shared). Each method exists only
// when D has it: Independent<Bernoulli>::rsample() does not compile, as Bernoulli::rsample() does not.
// A family may provide log_prob_sum(value, n), its log_prob summed over the last n dims, to fuse the sum
// (Bernoulli negates its fused BCE after the sum, on [B] rather than on every pixel).
#include "distribution.h"

namespace elbo::dist {

template <Distribution D> class Independent {
 public:
  Independent(D base, int64_t reinterpreted_batch_ndims) : base_(std::move(base)), n_(reinterpreted_batch_ndims) {
    // a family whose batch shape is not a member it can return by reference says its rank instead
    int64_t rank = 0;
    if constexpr (requires { base_.batch_ndims(); }) rank = base_.batch_ndims();
    else rank = int64_t(base_.batch_shape().size());  // NOTE: a reference for most families, not copied
    ELBO_CHECK_VALUE(n_ >= 0 && n_ <= rank,
                     "Independent: reinterpreted_batch_ndims {} must be in [0, {}], the number of batch dims of the "
                     "base distribution (batch_shape {}, event_shape {})", n_, rank, base_.batch_shape(),
                     base_.event_shape());
  }

  const D& base_dist() const { return base_; }
  int64_t reinterpreted_batch_ndims() const { return n_; }
  Shape batch_shape() const {
    const auto& b = base_.batch_shape();
    return Shape(b.begin(), b.end() - n_);
  }
  int64_t batch_ndim() const { return int64_t(base_.batch_shape().size()) - n_; }
  int64_t event_ndim() const { return int64_t(base_.event_shape().size()) + n_; }
  // The shapes' element counts without building them (for a base whose batch_shape is a reference, no
  // allocation: AnyDistribution's batch_numel and event_numel ask these).
  int64_t batch_numel() const {
    const auto& b = base_.batch_shape();
    return numel_of(IntList(b.data(), b.size() - size_t(n_)));
  }
  int64_t event_numel() const {
    const auto& b = base_.batch_shape();
    const auto& e = base_.event_shape();
    return numel_of(IntList(b.data() + b.size() - size_t(n_), size_t(n_))) * numel_of(e);
  }
  Shape event_shape() const {
    const auto& b = base_.batch_shape();
    const auto& e = base_.event_shape();
    Shape s(b.end() - n_, b.end());
    s.insert(s.end(), e.begin(), e.end());
    return s;
  }
  // The same two shapes in pooled storage (no heap allocation), for a family built in every training step
  // (MixtureSameFamily asks for these where a component has them).
  detail::Dims batch_dims() const {
    const auto& b = base_.batch_shape();
    return detail::Dims(b.begin(), b.end() - n_);
  }
  detail::Dims event_dims() const {
    const auto& b = base_.batch_shape();
    const auto& e = base_.event_shape();
    detail::Dims s(b.end() - n_, b.end());
    s.insert(s.end(), e.begin(), e.end());
    return s;
  }

  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const
    requires Samplable<D>
  {
    return base_.sample(gen, sample_shape);
  }
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const
    requires Reparameterized<D>
  {
    return base_.rsample(gen, sample_shape);
  }
  Tensor log_prob(const Tensor& value) const {
    if constexpr (requires { base_.log_prob_sum(value, n_); }) return base_.log_prob_sum(value, n_);
    else return sum_rightmost(base_.log_prob(value), n_);
  }
  Tensor entropy() const
    requires HasEntropy<D>
  {
    return sum_rightmost(base_.entropy(), n_);
  }
  Tensor mean() const
    requires HasMoments<D>
  {
    return base_.mean();
  }
  Tensor variance() const
    requires HasMoments<D>
  {
    return base_.variance();
  }

 private:
  D base_;
  int64_t n_;
};

}  // namespace elbo::dist
