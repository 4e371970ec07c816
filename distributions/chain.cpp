#include "distributions/chain.h"

#include <algorithm>

namespace elbo::dist {
namespace {
// t [..., d] as rows [N, d] (a lone value [d] is one row).
Tensor as_rows(const Tensor& t) {
  if (t.dim() == 1) return unsqueeze(t, 0);
  return t.dim() == 2 ? t : flatten(t, 0, t.dim() - 2);
}
// prev's leading (sample and batch) dims ++ [size]: the shape of the next layer's value.
detail::Dims next_shape(const Tensor& prev, int64_t size) {
  detail::Dims s(prev.shape().begin(), prev.shape().end() - 1);
  s.push_back(size);
  return s;
}
}  // namespace

Chain::Chain(AnyDistribution root, std::vector<Link> links, bool reversed)
    : Chain(Shared{}, std::move(root), std::make_shared<const std::vector<Link>>(std::move(links)), reversed) {}

Chain Chain::sharing(AnyDistribution root, std::shared_ptr<const std::vector<Link>> links, bool reversed) {
  return Chain(Shared{}, std::move(root), std::move(links), reversed);
}

Chain::Chain(Shared, AnyDistribution root, std::shared_ptr<const std::vector<Link>> links, bool reversed)
    : root_(std::move(root)), links_(std::move(links)), reversed_(reversed) {
  ELBO_CHECK(root_.defined(), "Chain: the root distribution is undefined");
  ELBO_CHECK(links_ != nullptr, "Chain: the links are null");
  ELBO_CHECK(root_.event_ndim() == 1, "Chain: the root's event_shape must be [d], got {} ({})", root_.event_shape(),
             root_.name());
  root_size_ = total_ = root_.event_numel();
  for (size_t i = 0; i < links_->size(); ++i) {
    const Link& l = (*links_)[i];
    ELBO_CHECK_VALUE(l.size >= 1, "Chain: link {} emits {} dims; a layer needs at least 1", i + 1, l.size);
    ELBO_CHECK(bool(l.fn), "Chain: link {} has no function", i + 1);
    total_ += l.size;
  }
}

std::vector<int64_t> Chain::sizes() const {
  std::vector<int64_t> s{root_size_};
  for (const Link& l : *links_) s.push_back(l.size);
  if (reversed_) std::reverse(s.begin(), s.end());
  return s;
}

AnyDistribution Chain::at(size_t link, const Tensor& prev) const {
  const Link& l = (*links_)[link];
  const int64_t rows = prev.numel() / prev.shape().back();  // a layer's last dim is its size, >= 1
  AnyDistribution d = l.fn(as_rows(prev));
  // batch [rows], event [size], asked without building the shapes
  ELBO_CHECK(d.event_ndim() == 1 && d.event_numel() == l.size && d.batch_ndim() == 1 && d.batch_numel() == rows,
             "Chain: link {} must give batch_shape [{}] and event_shape [{}] for its input {}, got batch {} event {} ({})",
             link + 1, rows, l.size, prev.shape(), d.batch_shape(), d.event_shape(), d.name());
  return d;
}

Chain::Tensors Chain::split_sampling_order(const Tensor& value) const {
  ELBO_CHECK(value.dim() >= 1 && value.shape().back() == total_,
             "Chain: log_prob of a value of shape {}: its last dim must be the {} dims of the layers {}", value.shape(),
             total_, sizes());
  Tensors parts;
  parts.reserve(links_->size() + 1);
  const int64_t last = value.dim() - 1;
  // the layout is the sampling order, or its reverse for a top-down chain
  int64_t at = 0;
  for (size_t i = 0; i <= links_->size(); ++i) {
    const size_t layer = reversed_ ? links_->size() - i : i;  // which sampled layer sits i-th in the layout
    const int64_t size = layer == 0 ? root_size_ : (*links_)[layer - 1].size;
    parts.push_back(narrow(value, last, at, size));
    at += size;
  }
  if (reversed_) std::reverse(parts.begin(), parts.end());
  return parts;
}

Tensor Chain::assemble(Tensors parts) const {
  if (reversed_) std::reverse(parts.begin(), parts.end());
  return parts.size() == 1 ? parts[0] : cat(std::span<const Tensor>(parts.data(), parts.size()), -1);
}

Chain::Tensors Chain::layers_log_prob(const Tensor& value) const {
  const Tensors z = split_sampling_order(value);
  Tensors lp;
  lp.reserve(z.size());
  lp.push_back(root_.log_prob(z[0]));
  const IntList lead(value.shape().data(), value.shape().size() - 1);
  for (size_t i = 0; i < links_->size(); ++i) lp.push_back(reshape(at(i, z[i]).log_prob(as_rows(z[i + 1])), lead));
  if (reversed_) std::reverse(lp.begin(), lp.end());
  return lp;
}

std::vector<Tensor> Chain::log_prob_layers(const Tensor& value) const {
  const Tensors lp = layers_log_prob(value);
  return std::vector<Tensor>(lp.begin(), lp.end());
}

Tensor Chain::log_prob(const Tensor& value) const {
  const Tensors lp = layers_log_prob(value);
  Tensor total = lp[0];
  for (size_t i = 1; i < lp.size(); ++i) total = total + lp[i];
  return total;
}

template <class Draw> Tensor Chain::draw(const Shape& sample_shape, Draw next) const {
  static const Shape none;
  Tensors z;
  z.reserve(links_->size() + 1);
  z.push_back(next(root_, sample_shape));
  for (size_t i = 0; i < links_->size(); ++i) {
    const Tensor& prev = z.back();
    z.push_back(reshape(next(at(i, prev), none), next_shape(prev, (*links_)[i].size)));
  }
  return assemble(std::move(z));
}

Tensor Chain::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  return draw(sample_shape, [&](const AnyDistribution& d, const Shape& s) { return d.sample(gen, s); });
}

Tensor Chain::rsample(Generator& gen, const Shape& sample_shape) const {
  return draw(sample_shape, [&](const AnyDistribution& d, const Shape& s) { return d.rsample(gen, s); });
}

Tensor Chain::location() const {
  Tensors z{root_.mean()};
  for (size_t i = 0; i < links_->size(); ++i) {
    z.push_back(reshape(at(i, z.back()).mean(), next_shape(z.back(), (*links_)[i].size)));
  }
  return assemble(std::move(z));
}

std::vector<Tensor> Chain::layer_means(Generator& gen) const {
  std::vector<Tensor> means{root_.mean()};
  Tensor prev = root_.sample(gen);
  for (size_t i = 0; i < links_->size(); ++i) {
    const AnyDistribution d = at(i, prev);
    const detail::Dims out = next_shape(prev, (*links_)[i].size);
    means.push_back(reshape(d.mean(), out));
    if (i + 1 < links_->size()) prev = reshape(d.sample(gen), out);
  }
  if (reversed_) std::reverse(means.begin(), means.end());
  return means;
}

}  // namespace elbo::dist
