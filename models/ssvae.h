#pragma once
// The semi-supervised VAE M2 of Kingma, Rezende, Mohamed and Welling 2014, "Semi-supervised Learning with
// Deep Generative Models": the class y is a latent variable, observed for a few examples and summed out
// exactly for the rest (conditional.h: labelled_elbo, enumerated_elbo), beside a Gaussian z:
//   p(y) uniform over C classes, p(z) = N(0, I), p(x | y, z) the VAE's decoder given one_hot(y)
//   q(y | x) a classifier MLP, q(z | x, y) the VAE's encoder given one_hot(y)
// The VAE is the zoo's (vae.h, with VaeOptions::condition = C), so every posterior family, flow and
// likelihood it has works here; its parameters are vae.* (vae.fc1.weight, ...), the classifier's
// classifier.0.* (D -> H), classifier.2.* (H -> C) with a softplus between, as in the paper's code.
// Its classifier alone is the model's prediction: argmax_y q(y | x).
#include "conditional.h"
#include "vae.h"

namespace elbo::models {

struct SsvaeOptions {
  VaeOptions vae{};                 // its networks; vae.condition is set to `classes`
  int64_t classes = 10;
  int64_t classifier_hidden = 500;  // the classifier's hidden units
};

class SemiSupervisedVae : public nn::Module, public LabelModel {
 public:
  SemiSupervisedVae(const SsvaeOptions& o, Generator& gen);

  int64_t classes() const override { return opt_.classes; }
  dist::AnyDistribution prior(const Tensor& y) const override { return vae_.prior(y); }
  dist::AnyDistribution likelihood(const Tensor& z, const Tensor& y) const override { return vae_.likelihood(z, y); }
  dist::AnyDistribution posterior(const Tensor& x, const Tensor& y) const override { return vae_.posterior(x, y); }
  dist::Categorical label_prior() const override;                // uniform: logits 0 [C]
  dist::Categorical classifier(const Tensor& x) const override;  // q(y | x), x [B, D]
  Tensor predict(const Tensor& x) const;                         // argmax_y q(y | x): [B] i64, no gradient

  const VAE& vae() const { return vae_; }
  const SsvaeOptions& options() const { return opt_; }
  std::string describe() const;  // "M2: mlp VAE 784-500-50, given 10 classes, ...; classifier 784-500-10"

 private:
  SsvaeOptions opt_;
  VAE& vae_;
  nn::Sequential& classifier_;
  Tensor probe_;  // a parameter, whose dtype p(y) follows
};

// n labelled examples drawn by gen, balanced across classes: floor(n / C) of each class, and one more of
// each of n mod C classes picked by gen; their row numbers in increasing order. An Error when n exceeds
// the examples, or a class has fewer examples than its share (naming the class and both counts).
std::vector<int64_t> balanced_labelled_subset(const Tensor& labels, int64_t classes, int64_t n, Generator& gen);

}  // namespace elbo::models
