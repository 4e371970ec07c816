#pragma once
// Labels as latent variables. A conditional model scores x given a label y (a class index):
//   p(x, z | y) = p(z | y) p(x | z, y),   q(z | x, y)
// and given(m, y) is that model at fixed labels: an AmortizedModel like any other, so every estimator
// (estimators.h: ELBO, IWAE, the loss, the reports) scores it unchanged.
//   const ElboTerms t = models::elbo(given(cvae, y), x, gen);
// A label model (Kingma et al. 2014's M2) also declares y a latent variable: p(y) and a classifier
// q(y | x), both Categorical. Where y is missing the ELBO sums it out exactly instead of sampling it,
//   log p(x) >= E_q(y|x)[ELBO(x, y) + log p(y)] + H(q(y|x))
// with every value of y scored in one pass of B*C rows (x tiled C times), never C passes; where y is
// observed the same model is scored at it: ELBO(x, y) + log p(y) <= log p(x, y).
#include "../distributions/categorical.h"
#include "estimators.h"

namespace elbo::models {

class ConditionalModel {
 public:
  virtual ~ConditionalModel() = default;
  virtual int64_t classes() const = 0;  // C: labels are i64 in [0, C)
  // p(z | y) for y [B]: batch [] (a prior that ignores y) or [B]; event [L]
  virtual dist::AnyDistribution prior(const Tensor& y) const = 0;
  virtual dist::AnyDistribution likelihood(const Tensor& z, const Tensor& y) const = 0;  // z [N, L], y [N]
  virtual dist::AnyDistribution posterior(const Tensor& x, const Tensor& y) const = 0;   // x [B, ...], y [B]
};

// m at the labels y ([B] i64, one per example). The estimators stack k samples of z as [k B, L] (copy j of
// example i at row j B + i); likelihood(z) reads y tiled to match. Holds a reference to m: keep m alive.
class Given final : public AmortizedModel {
 public:
  Given(const ConditionalModel& m, Tensor y);
  dist::AnyDistribution prior() const override { return m_.prior(y_); }
  dist::AnyDistribution posterior(const Tensor& x) const override;    // x [B, ...]
  dist::AnyDistribution likelihood(const Tensor& z) const override;   // z [k B, L]
  const Tensor& labels() const { return y_; }

 private:
  const ConditionalModel& m_;
  Tensor y_;
};
inline Given given(const ConditionalModel& m, const Tensor& y) { return Given(m, y); }

class LabelModel : public ConditionalModel {
 public:
  virtual dist::Categorical label_prior() const = 0;                 // p(y): logits [C]
  virtual dist::Categorical classifier(const Tensor& x) const = 0;   // q(y | x): logits [B, C]
};

// Per example, [B] each. elbo = log_px - kl, where kl is the KL of q(y, z | x) to p(y, z) (enumerated:
// E_q(y)[KL_z] + KL(q(y|x) || p(y))) and log_px E_q(y)[log p(x | z, y)]; labelled: kl = KL_z - log p(y).
// The per-class figures elbo(x, c) + log p(c), [B, C], come with the enumerated form (for reports).
struct LabelTerms : ElboTerms {
  Tensor per_class{};  // enumerated only: [B, C]
};

// y missing: summed out over q(y | x), exactly.
LabelTerms enumerated_elbo(const LabelModel& m, const Tensor& x, Generator& gen, const ElboOptions& o = {});
// y observed ([B] i64).
LabelTerms labelled_elbo(const LabelModel& m, const Tensor& x, const Tensor& y, Generator& gen,
                         const ElboOptions& o = {});

// [B] i64 labels checked against a model of C classes: an Error naming `what`, the shape and the first bad value.
void check_labels(const char* what, const Tensor& y, int64_t batch, int64_t classes);

}  // namespace elbo::models
