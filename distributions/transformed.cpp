#include "distributions/transformed.h"

#include <algorithm>

namespace elbo::dist {

TransformedDistribution::TransformedDistribution(AnyDistribution base, TransformList transforms)
    : base_(std::move(base)),
      transforms_(std::move(transforms)),
      last_(std::allocate_shared<Last>(detail::PoolAllocator<Last>{})) {
  ELBO_CHECK(base_.defined(), "TransformedDistribution: the base distribution is undefined");
  base_event_dims_ = base_.event_ndim();
  int64_t e = base_event_dims_;
  for (size_t k = 0; k < transforms_.size(); ++k) {
    ELBO_CHECK(transforms_[k] != nullptr, "TransformedDistribution: transform {} is null", k);
    e = std::max(e, transforms_[k]->event_dim());
  }
  const int64_t dims = base_.batch_ndim() + base_event_dims_;
  ELBO_CHECK_SHAPE(e <= dims, "TransformedDistribution: a transform acts on {} event dims, the base {} (batch {}, "
                   "event {}) has {} dims", e, base_.name(), base_.batch_shape(), base_.event_shape(), dims);
  event_dims_ = e;
}

Shape TransformedDistribution::batch_shape() const {
  Shape s = base_.batch_shape();
  const Shape ev = base_.event_shape();
  s.insert(s.end(), ev.begin(), ev.end());
  return Shape(s.begin(), s.end() - event_dims_);
}

Shape TransformedDistribution::event_shape() const {
  Shape s = base_.batch_shape();
  const Shape ev = base_.event_shape();
  s.insert(s.end(), ev.begin(), ev.end());
  return Shape(s.end() - event_dims_, s.end());
}

TransformedDistribution::Draw TransformedDistribution::push(const Tensor& x0) const {
  Tensor log_prob = sum_rightmost(base_.log_prob(x0), event_dims_ - base_event_dims_);
  Tensor x = x0;
  for (const TransformPtr& t : transforms_) {
    Transform::Result r = t->forward_with_log_det(x);
    log_prob = log_prob - sum_rightmost(r.log_det, event_dims_ - t->event_dim());
    x = r.y;
  }
  last_->value = x, last_->log_prob = log_prob;
  return {x, log_prob};
}

TransformedDistribution::Draw TransformedDistribution::rsample_with_log_prob(Generator& gen, const Shape& s) const {
  ELBO_CHECK(base_.has_rsample(), "TransformedDistribution: the base {} has no rsample", base_.name());
  return push(base_.rsample(gen, s));
}

Tensor TransformedDistribution::rsample(Generator& gen, const Shape& s) const { return rsample_with_log_prob(gen, s).value; }

Tensor TransformedDistribution::sample(Generator& gen, const Shape& s) const {
  NoGradGuard no_grad;
  Draw d = push(base_.sample(gen, s));
  last_->value = d.value = d.value.detach(), last_->log_prob = d.log_prob.detach();
  return d.value;
}

Tensor TransformedDistribution::log_prob(const Tensor& value) const {
  if (last_->value.defined() && value.impl() == last_->value.impl()) return last_->log_prob;
  int64_t event_dims = event_dims_;
  Tensor log_prob;
  Tensor y = value;
  for (auto it = transforms_.rbegin(); it != transforms_.rend(); ++it) {
    const Transform& t = **it;
    ELBO_CHECK(t.has_inverse(), "TransformedDistribution.log_prob: {} has no closed-form inverse, so only the "
               "distribution's own samples (the tensor rsample returned) can be scored", t.name());
    const Transform::InverseResult r = t.inverse_with_log_det(y);
    const Tensor& x = r.x;
    const Tensor ld = sum_rightmost(r.log_det, event_dims - t.event_dim());
    log_prob = log_prob.defined() ? log_prob - ld : -ld;
    y = x;
  }
  const Tensor base = sum_rightmost(base_.log_prob(y), event_dims - base_event_dims_);
  return log_prob.defined() ? base + log_prob : base;
}

}  // namespace elbo::dist
