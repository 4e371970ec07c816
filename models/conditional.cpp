// Conditional models at fixed labels, and the ELBO with a discrete latent summed out (conditional.h).
#include "models/conditional.h"

namespace elbo::models {

void check_labels(const char* what, const Tensor& y, int64_t batch, int64_t classes) {
  ELBO_CHECK_SHAPE(y.defined() && y.dim() == 1 && y.dtype() == DType::i64 && (batch < 0 || y.size(0) == batch),
                   "{}: labels must be [{}] i64, got {} {}", what, batch < 0 ? std::string("B") : std::to_string(batch),
                   y.defined() ? y.shape() : Shape{}, y.defined() ? name(y.dtype()) : std::string_view("undefined"));
  const int64_t* p = y.data<int64_t>();  // storage is contiguous
  for (int64_t i = 0; i < y.numel(); ++i)
    ELBO_CHECK_VALUE(p[i] >= 0 && p[i] < classes, "{}: label {} at position {} is not a class in [0, {})", what,
                     p[i], i, classes);
}

Given::Given(const ConditionalModel& m, Tensor y) : m_(m), y_(std::move(y)) {
  ELBO_CHECK_VALUE(m_.classes() > 0, "given: the model is not conditioned on labels (it has {} classes)", m_.classes());
  check_labels("given", y_, -1, m_.classes());
}

dist::AnyDistribution Given::posterior(const Tensor& x) const {
  ELBO_CHECK_SHAPE(x.defined() && x.dim() >= 1 && x.size(0) == y_.size(0),
                   "given: input {} does not have one row per label ({} labels)", x.defined() ? x.shape() : Shape{},
                   y_.size(0));
  return m_.posterior(x, y_);
}

dist::AnyDistribution Given::likelihood(const Tensor& z) const {
  const int64_t b = y_.size(0), n = z.defined() && z.dim() >= 1 ? z.size(0) : -1;
  ELBO_CHECK_SHAPE(n > 0 && n % b == 0, "given: latents {} are not k copies of {} examples",
                   z.defined() ? z.shape() : Shape{}, b);
  return m_.likelihood(z, n == b ? y_ : flatten(expand(unsqueeze(y_, 0), {n / b, b}), 0, 1));
}

LabelTerms enumerated_elbo(const LabelModel& m, const Tensor& x, Generator& gen, const ElboOptions& o) {
  ELBO_CHECK_SHAPE(x.defined() && x.dim() >= 1, "enumerated_elbo: input {} is not [B, ...]",
                   x.defined() ? x.shape() : Shape{});
  const int64_t c = m.classes(), b = x.size(0);
  const dist::Categorical qy = m.classifier(x), py = m.label_prior();
  ELBO_CHECK_SHAPE(qy.batch_ndims() == 1 && qy.logits().size(0) == b && qy.num_events() == c,
                   "enumerated_elbo: the classifier's q(y|x) has batch {} over {} classes; expected [{}] over {}",
                   qy.batch_shape(), qy.num_events(), b, c);
  ELBO_CHECK_SHAPE(py.batch_ndims() == 0 && py.num_events() == c,
                   "enumerated_elbo: p(y) has batch {} over {} classes; expected [] over {}", py.batch_shape(),
                   py.num_events(), c);
  // Every (class, example) pair as one batch: row j B + i is example i with label j.
  detail::Dims tiled(x.shape().begin(), x.shape().end());
  tiled.insert(tiled.begin(), c);
  const Tensor xs = flatten(expand(unsqueeze(x, 0), tiled), 0, 1);
  const Tensor ys = repeat_interleave(arange(c), b, 0);
  const ElboTerms t = elbo(given(m, ys), xs, gen, o);
  const Tensor per_class = transpose(reshape(t.elbo, {c, b}), 0, 1) + py.logits();  // [B, C]
  const Tensor probs = qy.probs();
  const Tensor value = sum(probs * per_class, {1}) + qy.entropy();
  const Tensor log_px = sum(probs * transpose(reshape(t.log_px, {c, b}), 0, 1), {1});
  LabelTerms out;
  out.elbo = value, out.log_px = log_px, out.kl = log_px - value, out.per_class = per_class;
  return out;
}

LabelTerms labelled_elbo(const LabelModel& m, const Tensor& x, const Tensor& y, Generator& gen, const ElboOptions& o) {
  ELBO_CHECK_SHAPE(x.defined() && x.dim() >= 1, "labelled_elbo: input {} is not [B, ...]",
                   x.defined() ? x.shape() : Shape{});
  check_labels("labelled_elbo", y, x.size(0), m.classes());
  const ElboTerms t = elbo(given(m, y), x, gen, o);
  const Tensor log_py = m.label_prior().log_prob(y);
  LabelTerms out;
  out.elbo = t.elbo + log_py, out.log_px = t.log_px, out.kl = t.kl - log_py;
  return out;
}

}  // namespace elbo::models
