#include "tools/ssvae_task.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <filesystem>

#include "models/image.h"
#include "models/plot.h"
#include "parallel/data_parallel.h"
#include "training/report.h"

namespace elbo::zoo {
namespace fs = std::filesystem;
using training::Progress;

// ---- semi-supervised VAE (M2) ----

SemiSupervisedTask::SemiSupervisedTask(models::SemiSupervisedVae& m, const training::ImageData& data,
                                       std::vector<int64_t> labelled, SsvaeObjective o, int iw)
    : m_(m), data_(data), labelled_(std::move(labelled)), is_labelled_(size_t(data.train.size()), false), o_(o), iw_(iw),
      to_images_([](const Tensor& x) { return x; }), height_(data.test.height), width_(data.test.width) {
  ELBO_CHECK(data.train.labels.defined() && data.test.labels.defined(),
             "SemiSupervisedTask: the data needs labels for both splits");
  ELBO_CHECK_VALUE(!labelled_.empty() && o.labelled_batch >= 1 && o.alpha >= 0,
                   "SemiSupervisedTask: {} labelled rows, labelled batch {}, alpha {}", labelled_.size(),
                   o.labelled_batch, o.alpha);
  for (int64_t i : labelled_) {
    ELBO_CHECK_VALUE(i >= 0 && i < data.train.size(), "SemiSupervisedTask: labelled row {} of {}", i, data.train.size());
    is_labelled_[size_t(i)] = true;
  }
  models::check_labels("SemiSupervisedTask (test labels)", data.test.labels, -1, m.classes());
}

Tensor SemiSupervisedTask::loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t) {
  const double n = double(data_.train.size()), n_l = double(labelled_.size());
  keep_.clear();
  for (size_t r = 0; r < ids.size(); ++r)
    if (!is_labelled_[size_t(ids[r])]) keep_.push_back(int64_t(r));
  draw_.resize(size_t(o_.labelled_batch));
  for (int64_t& d : draw_) d = labelled_[size_t(gen.below(labelled_.size()))];
  const Tensor xl = data_.train_batches().batch(draw_, 0, int64_t(draw_.size()), gen);
  const Tensor yl = index_select(data_.train.labels, 0, tensor(draw_, {int64_t(draw_.size())}));
  Tensor total = (n_l / n) * mean(-models::labelled_elbo(m_, xl, yl, gen).elbo) -
                 o_.alpha * mean(m_.classifier(xl).log_prob(yl));
  if (!keep_.empty()) {
    const Tensor xu = keep_.size() == ids.size() ? x : index_select(x, 0, tensor(keep_, {int64_t(keep_.size())}));
    total = total - sum(models::enumerated_elbo(m_, xu, gen).elbo) / double(ids.size());
  }
  return total;
}

Tensor SemiSupervisedTask::score(const Tensor& x, Generator& gen) { return models::enumerated_elbo(m_, x, gen).elbo; }

void SemiSupervisedTask::show_with(std::function<Tensor(const Tensor&)> to_images, int64_t height, int64_t width) {
  to_images_ = std::move(to_images), height_ = height, width_ = width;
}

double SemiSupervisedTask::test_error() const {
  NoGradGuard ng;
  const Tensor& x = data_.test_x;
  const int64_t n = x.size(0), batch = 1000;
  double wrong = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t k = std::min(batch, n - b);
    wrong += sum(ne(m_.predict(narrow(x, 0, b, k)), narrow(data_.test.labels, 0, b, k))).item();
  }
  return wrong / double(n);
}

void SemiSupervisedTask::epoch_figures(std::map<std::string, double>& row) { row["test_error"] = test_error(); }

void SemiSupervisedTask::summaries(Session&, training::SummaryWriter& tb, int64_t step) {
  NoGradGuard ng;
  tb.add_scalar("test/error", test_error(), step);
  // the classifier's confidence, and the style latents at its labels, over the first 1000 test images
  const Tensor x = narrow(data_.test_x, 0, 0, std::min<int64_t>(1000, data_.test_x.size(0)));
  const dist::Categorical q = m_.classifier(x);
  tb.add_histogram("classifier/max_probability", max(q.probs(), 1), step);
  tb.add_histogram("latent/mean", models::location(m_.posterior(x, m_.predict(x))), step);
}

void SemiSupervisedTask::finish(Session& s, Generator& gen, std::map<std::string, double>& figures) {
  NoGradGuard ng;
  const Tensor& tx = data_.test_x;
  const Tensor& ty = data_.test.labels;
  const int64_t h = height_, w = width_, c = m_.classes(), n = tx.size(0);
  figures["test_error"] = test_error();
  figures["labelled"] = double(labelled_.size());
  // the labelled bound, a bound on log p(x, y), at the test labels
  double lab = 0;
  for (int64_t b = 0; b < n; b += 500) {
    const int64_t k = std::min<int64_t>(500, n - b);
    lab += sum(models::labelled_elbo(m_, narrow(tx, 0, b, k), narrow(ty, 0, b, k), gen).elbo).item();
  }
  figures["test_elbo_labelled"] = lab / double(n);
  auto shown = [&](const Tensor& z, const Tensor& y) {
    return clamp(to_images_(models::location(m_.likelihood(z, y))), 0.0, 1.0);
  };
  std::vector<std::string> rows;
  for (int64_t k = 0; k < c; ++k) rows.push_back(fmt::format("y = {}", k));
  const int64_t per = 10;
  const Tensor ys = repeat_interleave(arange(c), per, 0);
  const Tensor z = m_.prior(ys).sample(gen, {c * per});
  models::save_captioned_grid(s.path("samples.png"), shown(z, ys), h, w, per,
                              fmt::format("means of p(x|y, z), z ~ p(z); row k: y = k ({} per class)", per), 2, rows);
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < 32; ++i) pick.push_back(i * n / 32);
  const Tensor ids = tensor(pick, {int64_t(pick.size())});
  const Tensor x = index_select(tx, 0, ids), y = m_.predict(x);
  models::save_captioned_grid(s.path("reconstructions.png"),
                              cat({clamp(to_images_(x), 0.0, 1.0), shown(models::location(m_.posterior(x, y)), y)}, 0),
                              h, w, 8, "rows 1-4: test images; rows 5-8: reconstructions at the classifier's label");
  // Kingma et al.'s analogies: the style z = E_q[z | x, y] of a test image (y its classifier's label), drawn
  // as every class
  const int64_t styles = std::min<int64_t>(8, n);
  const Tensor sx = narrow(x, 0, 0, styles), sy = narrow(y, 0, 0, styles);
  const Tensor zs = models::location(m_.posterior(sx, sy));
  std::vector<Tensor> grid;
  std::vector<std::string> names;
  const std::vector<int64_t> predicted = sy.to_vector<int64_t>();
  for (int64_t i = 0; i < styles; ++i) {
    grid.push_back(clamp(to_images_(narrow(sx, 0, i, 1)), 0.0, 1.0));
    grid.push_back(shown(expand(narrow(zs, 0, i, 1), {c, zs.size(1)}), arange(c)));
    names.push_back(fmt::format("q: {}", predicted[size_t(i)]));
  }
  models::save_captioned_grid(s.path("analogies.png"), cat(grid, 0), h, w, c + 1,
                              fmt::format("first column: a test image (left: argmax q(y|x)); then its style "
                                          "z = E_q[z|x, y] drawn as y = 0..{}", c - 1), 2, names);
  if (iw_ > 0) {  // log p(x) = logsumexp_y [log p(y) + log p(x | y)], each log p(x | y) by IWAE
    const int64_t batch = std::max<int64_t>(1, 20000 / (iw_ * c));
    training::Progress bar(fmt::format("IWAE K={} per class", iw_), n, s.opt.quiet);
    double total = 0;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t k = std::min(batch, n - b);
      const Tensor xb = narrow(tx, 0, b, k);
      const Tensor xs = flatten(expand(unsqueeze(xb, 0), {c, k, xb.size(1)}), 0, 1);
      const Tensor yb = repeat_interleave(arange(c), k, 0);
      const Tensor per_class = reshape(models::iwae(models::given(m_, yb), xs, gen, iw_), {c, k}) +
                               unsqueeze(m_.label_prior().logits(), 1);
      total += sum(logsumexp(per_class, 0)).item();
      bar.update(b + k, total / double(b + k), "loglik");
    }
    bar.finish();
    figures["test_loglik"] = total / double(n);
  }
}

}  // namespace elbo::zoo

namespace elbo::zoo {

// ---- M1 features for M2 ----

namespace {
// Draws z1 ~ N(mean, exp(logvar)) for each row of a batch, afresh each time.
class FeatureBatches final : public training::BatchSource {
 public:
  FeatureBatches(Tensor mean, Tensor logvar) : mean_(std::move(mean)), std_(exp(0.5 * logvar)) {}
  int64_t size() const override { return mean_.size(0); }
  Tensor batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator& gen) const override {
    const Tensor m = models::rows(mean_, order, lo, hi), s = models::rows(std_, order, lo, hi);
    return m + s * randn(m.shape(), gen, m.dtype());
  }

 private:
  Tensor mean_, std_;
};
}  // namespace

std::unique_ptr<models::VAE> load_mlp_vae(const std::string& path, int64_t height, int64_t width) {
  const nn::TensorFile f = nn::load_tensors(path);
  const Tensor *fc1 = nullptr, *fc21 = nullptr;
  for (const auto& [name, t] : f.tensors) {
    if (name == "fc1.weight") fc1 = &t;
    if (name == "fc21.weight") fc21 = &t;
  }
  ELBO_CHECK(fc1 && fc21 && fc1->dim() == 2 && fc21->dim() == 2,
             "{}: not an elbo-vae MLP model (it has no 2-D fc1.weight and fc21.weight)", path);
  ELBO_CHECK(fc1->size(1) == height * width, "{}: its encoder reads {} pixels, the data's images have {}x{}", path,
             fc1->size(1), height, width);
  models::VaeOptions o;
  o.height = height, o.width = width, o.hidden = fc1->size(0), o.latent = fc21->size(0);
  Generator init(1);
  auto m = std::make_unique<models::VAE>(o, init);
  nn::load(*m, path);
  return m;
}

M1Features::M1Features(const models::VAE& m1, const training::ImageData& pixels, double min_std)
    : m1_(m1), height_(pixels.train.height), width_(pixels.train.width) {
  NoGradGuard ng;
  ELBO_CHECK(!pixels.train.mapped, "--m1: the images must be in memory (this data stays in its file)");
  ELBO_CHECK(m1.classes() == 0, "--m1: M1 must be an unconditional VAE");
  auto encode = [&](const Tensor& x, Tensor& mean, Tensor& logvar) {
    std::vector<Tensor> ms, vs;
    for (int64_t b = 0; b < x.size(0); b += 1000) {
      const models::Encoder::Params p = m1.encoder().params(narrow(x, 0, b, std::min<int64_t>(1000, x.size(0) - b)));
      ms.push_back(p.loc), vs.push_back(p.logvar);
    }
    mean = cat(ms, 0), logvar = cat(vs, 0);
  };
  Tensor train_mean, train_logvar, test_mean, test_logvar;
  encode(pixels.train.images, train_mean, train_logvar);  // the grayscale pixels, not binarized
  encode(pixels.test.images, test_mean, test_logvar);
  const std::vector<double> var =
      mean(square(train_mean - mean(train_mean, {0}, true)), {0}).to(DType::f64).to_vector<double>();
  for (size_t j = 0; j < var.size(); ++j)
    if (std::sqrt(var[j]) > min_std) kept_.push_back(int64_t(j));
  ELBO_CHECK(!kept_.empty(), "--m1: none of M1's {} latent dimensions varies over the training set (std of the "
             "means > {})", var.size(), min_std);
  kept_index_ = tensor(kept_, {int64_t(kept_.size())});
  auto features = [&](const models::Dataset& d, const Tensor& mean) {
    models::Dataset f;
    f.images = index_select(mean, 1, kept_index_), f.labels = d.labels, f.height = 1, f.width = int64_t(kept_.size());
    f.source = d.source + " (M1 features)";
    return f;
  };
  data_ = std::make_shared<training::ImageData>(
      features(pixels.train, train_mean), features(pixels.test, test_mean), models::Binarize::none, 1,
      std::make_unique<FeatureBatches>(index_select(train_mean, 1, kept_index_), index_select(train_logvar, 1, kept_index_)));
}

Tensor M1Features::images(const Tensor& features) const {
  NoGradGuard ng;
  const int64_t latent = m1_.options().latent;
  Tensor z = zeros({features.size(0), latent}, features.dtype());
  z = index_add(z, 1, kept_index_, features);
  return m1_.decoder().mean(z);
}

}  // namespace elbo::zoo
