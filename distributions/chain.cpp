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
Shape next_shape(const Tensor& prev, int64_t size) {
  Shape s(prev.shape().begin(), prev.shape().end() - 1);
  s.push_back(size);
  return s;
}
}  // namespace

Chain::Chain(AnyDistribution root, std::vector<Link> links, bool reversed)
    : root_(std::move(root)), links_(std::move(links)), reversed_(reversed) {
  ELBO_CHECK(root_.defined(), "Chain: the root distribution is undefined");
  const Shape e = root_.event_shape();
  ELBO_CHECK(e.size() == 1, "Chain: the root's event_shape must be [d], got {} ({})", e, root_.name());
  root_size_ = total_ = e[0];
  for (size_t i = 0; i < links_.size(); ++i) {
    ELBO_CHECK_VALUE(links_[i].size >= 1, "Chain: link {} emits {} dims; a layer needs at least 1", i + 1, links_[i].size);
    ELBO_CHECK(bool(links_[i].fn), "Chain: link {} has no function", i + 1);
    total_ += links_[i].size;
  }
}

std::vector<int64_t> Chain::sizes() const {
  std::vector<int64_t> s{root_size_};
  for (const Link& l : links_) s.push_back(l.size);
  if (reversed_) std::reverse(s.begin(), s.end());
  return s;
}

AnyDistribution Chain::at(size_t link, const Tensor& prev) const {
  const Shape lead(prev.shape().begin(), prev.shape().end() - 1);
  AnyDistribution d = links_[link].fn(as_rows(prev));
  const Shape e = d.event_shape(), b = d.batch_shape();
  int64_t rows = 1;
  for (int64_t s : lead) rows *= s;
  ELBO_CHECK(e == Shape{links_[link].size} && b == Shape{rows},
             "Chain: link {} must give batch_shape [{}] and event_shape [{}] for its input {}, got batch {} event {} ({})",
             link + 1, rows, links_[link].size, prev.shape(), b, e, d.name());
  return d;
}

std::vector<Tensor> Chain::split_sampling_order(const Tensor& value) const {
  ELBO_CHECK(value.dim() >= 1 && value.shape().back() == total_,
             "Chain: log_prob of a value of shape {}: its last dim must be the {} dims of the layers {}", value.shape(),
             total_, sizes());
  std::vector<Tensor> parts;
  int64_t at = 0;
  for (int64_t s : sizes()) parts.push_back(narrow(value, value.dim() - 1, at, s)), at += s;
  if (reversed_) std::reverse(parts.begin(), parts.end());
  return parts;
}

Tensor Chain::assemble(std::vector<Tensor> parts) const {
  if (reversed_) std::reverse(parts.begin(), parts.end());
  return parts.size() == 1 ? parts[0] : cat(parts, -1);
}

std::vector<Tensor> Chain::log_prob_layers(const Tensor& value) const {
  const std::vector<Tensor> z = split_sampling_order(value);
  std::vector<Tensor> lp{root_.log_prob(z[0])};
  const Shape lead(value.shape().begin(), value.shape().end() - 1);
  for (size_t i = 0; i < links_.size(); ++i) {
    const Tensor l = at(i, z[i]).log_prob(as_rows(z[i + 1]));
    lp.push_back(reshape(l, lead));
  }
  if (reversed_) std::reverse(lp.begin(), lp.end());
  return lp;
}

Tensor Chain::log_prob(const Tensor& value) const {
  const std::vector<Tensor> lp = log_prob_layers(value);
  Tensor total = lp[0];
  for (size_t i = 1; i < lp.size(); ++i) total = total + lp[i];
  return total;
}

template <class Draw> Tensor Chain::draw(const Shape& sample_shape, Draw next) const {
  std::vector<Tensor> z{next(root_, sample_shape)};
  for (size_t i = 0; i < links_.size(); ++i) {
    const Tensor& prev = z.back();
    z.push_back(reshape(next(at(i, prev), Shape{}), next_shape(prev, links_[i].size)));
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
  std::vector<Tensor> z{root_.mean()};
  for (size_t i = 0; i < links_.size(); ++i) {
    z.push_back(reshape(at(i, z.back()).mean(), next_shape(z.back(), links_[i].size)));
  }
  return assemble(std::move(z));
}

std::vector<Tensor> Chain::layer_means(Generator& gen) const {
  std::vector<Tensor> means{root_.mean()};
  Tensor prev = root_.sample(gen);
  for (size_t i = 0; i < links_.size(); ++i) {
    const AnyDistribution d = at(i, prev);
    const Shape out = next_shape(prev, links_[i].size);
    means.push_back(reshape(d.mean(), out));
    if (i + 1 < links_.size()) prev = reshape(d.sample(gen), out);
  }
  if (reversed_) std::reverse(means.begin(), means.end());
  return means;
}

}  // namespace elbo::dist
