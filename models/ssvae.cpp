// Kingma et al. 2014's M2 (ssvae.h).
#include "models/ssvae.h"

#include <algorithm>

namespace elbo::models {
namespace {
VaeOptions conditioned(const SsvaeOptions& o) {
  ELBO_CHECK_VALUE(o.classes >= 2, "SemiSupervisedVae: needs at least 2 classes, got {}", o.classes);
  ELBO_CHECK_VALUE(o.classifier_hidden >= 1, "SemiSupervisedVae: classifier_hidden must be >= 1, got {}",
                   o.classifier_hidden);
  VaeOptions v = o.vae;
  v.condition = o.classes;
  return v;
}
}  // namespace

SemiSupervisedVae::SemiSupervisedVae(const SsvaeOptions& o, Generator& gen)
    : opt_(o),
      vae_(register_module("vae", std::make_unique<VAE>(conditioned(o), gen))),
      classifier_(register_module(
          "classifier", nn::Sequential(nn::Linear(o.vae.height * o.vae.width, o.classifier_hidden, gen), nn::Softplus(),
                                       nn::Linear(o.classifier_hidden, o.classes, gen)))),
      probe_(named_parameters().front().second) {
  opt_.vae.condition = o.classes;
}

dist::Categorical SemiSupervisedVae::label_prior() const {
  return dist::Categorical(zeros({opt_.classes}, probe_.dtype()));
}

dist::Categorical SemiSupervisedVae::classifier(const Tensor& x) const {
  const int64_t d = opt_.vae.height * opt_.vae.width;
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 2 && x.size(1) == d, "SemiSupervisedVae::classifier: input {} is not [B, {}]",
                   x.defined() ? x.shape() : Shape{}, d);
  return dist::Categorical(classifier_.forward(x));
}

Tensor SemiSupervisedVae::predict(const Tensor& x) const {
  NoGradGuard ng;
  return argmax(classifier(x).logits(), 1);
}

std::string SemiSupervisedVae::describe() const {
  return fmt::format("M2: {}; classifier {}-{}-{}", vae_.describe(), opt_.vae.height * opt_.vae.width,
                     opt_.classifier_hidden, opt_.classes);
}

std::vector<int64_t> balanced_labelled_subset(const Tensor& labels, int64_t classes, int64_t n, Generator& gen) {
  check_labels("balanced_labelled_subset", labels, -1, classes);
  ELBO_CHECK_VALUE(n >= classes && n <= labels.size(0),
                   "--labels {}: needs at least one per class ({} classes) and at most the {} labelled examples", n,
                   classes, labels.size(0));
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(classes));
  const int64_t* y = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) by_class[size_t(y[i])].push_back(i);
  // which classes take one more (n mod C of them), then each class's examples, in a shuffled order
  std::vector<int64_t> order(static_cast<size_t>(classes));
  for (int64_t c = 0; c < classes; ++c) order[size_t(c)] = c;
  auto shuffle = [&](std::vector<int64_t>& v) {  // Fisher-Yates on gen
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(gen.below(uint64_t(i)))]);
  };
  shuffle(order);
  std::vector<int64_t> share(static_cast<size_t>(classes), n / classes);
  for (int64_t k = 0; k < n % classes; ++k) ++share[size_t(order[size_t(k)])];
  std::vector<int64_t> picked;
  for (int64_t c = 0; c < classes; ++c) {
    std::vector<int64_t>& rows = by_class[size_t(c)];
    ELBO_CHECK_VALUE(int64_t(rows.size()) >= share[size_t(c)],
                     "--labels {}: class {} has {} examples, fewer than its share of {}", n, c, rows.size(),
                     share[size_t(c)]);
    shuffle(rows);
    picked.insert(picked.end(), rows.begin(), rows.begin() + share[size_t(c)]);
  }
  std::sort(picked.begin(), picked.end());
  return picked;
}

}  // namespace elbo::models
