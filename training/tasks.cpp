#include "training/tasks.h"

#include <algorithm>
#include <numeric>

#include "distributions/normal.h"
#include "models/image.h"
#include "models/plot.h"
#include "training/report.h"

namespace elbo::training {

void save_image_reports(Session& s, const Tensor& samples, const std::function<Tensor(const Tensor&)>& reconstruct) {
  const ImageData& d = s.images();
  const int64_t h = d.test.height, w = d.test.width, n = d.test.size();
  models::save_captioned_grid(s.path("samples.png"), samples, h, w, 8,
                              fmt::format("{} samples: means of p(x|z), z ~ p(z)", samples.size(0)));
  if (!reconstruct) return;
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < 32; ++i) pick.push_back(i * n / 32);
  const Tensor x = models::rows(d.test_x, pick, 0, int64_t(pick.size()));
  models::save_captioned_grid(s.path("reconstructions.png"), cat({x, reconstruct(x)}, 0), h, w, 8,
                              "rows 1-4: test images; rows 5-8: their reconstructions");
}

// ---- VAE ----

Tensor VaeTask::loss(const Tensor& x, const std::vector<int64_t>&, Generator& gen, int64_t step) {
  return models::loss(m_, x, gen, obj_, step);
}

Tensor VaeTask::score(const Tensor& x, Generator& gen) { return models::elbo(m_, x, gen).elbo; }

void VaeTask::finish(Session& s, Generator& gen, std::map<std::string, double>& figures) {
  NoGradGuard ng;
  const ImageData& d = s.images();
  auto shown = [&](const Tensor& z) { return clamp(models::location(m_.likelihood(z)), 0.0, 1.0); };  // p(x|z)'s means
  save_image_reports(s, shown(m_.prior().sample(gen, {64})),
                     [&](const Tensor& x) { return shown(models::location(m_.posterior(x))); });
  if (m_.prior().event_shape() == Shape{2}) {  // Kingma and Welling's Figure 4: decoder means over a grid of z
    const int g = 20;
    std::vector<double> quantiles;  // evenly spaced, through the inverse normal CDF
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) quantiles.push_back((j + 0.5) / g), quantiles.push_back((g - i - 0.5) / g);
    const Tensor z = dist::Normal(zeros({}), ones({})).icdf(tensor(quantiles, {g * g, 2}));
    models::save_captioned_grid(s.path("latent_manifold.png"), shown(z), d.test.height, d.test.width, g,
                                "means of p(x|z) over a 20x20 grid of z at evenly spaced N(0, 1) quantiles", 1);
  }
  const models::LatentReport r = models::latent_report(m_, d.test_x);
  figures["active_units"] = double(r.active_units);
  if (per_layer_) {
    // a hierarchy: the KL and active units of each stochastic layer (Burda et al.'s statistic, estimators.h)
    Generator g(s.opt.seed + 3);
    const models::LayerReport lr = models::layer_report(m_, d.test_x, g);
    double active = 0;
    for (size_t i = 0; i < lr.sizes.size(); ++i) {
      figures[fmt::format("active_units_layer{}", i + 1)] = double(lr.active_units[i]);
      figures[fmt::format("kl_layer{}", i + 1)] = lr.kl[i];
      active += double(lr.active_units[i]);
    }
    figures["active_units"] = active;
  }
  for (size_t j = 0; j < r.kl_per_dim.size(); ++j) figures[fmt::format("kl_dim_{:02d}", j)] = r.kl_per_dim[j];
  plot_latents(s, r);
  if (iw_ > 0) {
    Progress bar(fmt::format("IWAE K={}", iw_), d.test_x.size(0), s.opt.quiet);
    figures["test_loglik"] = models::mean_over(
        d.test_x, std::max<int64_t>(1, 20000 / iw_), [&](const Tensor& x) { return models::iwae(m_, x, gen, iw_); },
        [&](int64_t done, double mean) { bar.update(done, mean, "loglik"); });
    bar.finish();
  }
  // bits per dimension of the 8-bit images, where the head and the pixels allow that reading (likelihood.h)
  const bool eight_bit = (scale_ == models::LikelihoodScale::probability && d.binarize == models::Binarize::none) ||
                         (scale_ == models::LikelihoodScale::density && d.binarize == models::Binarize::dequantize);
  if (eight_bit) {
    const int64_t dims = d.test_x.size(1);
    figures["test_bits_per_dim"] = models::bits_per_dim(figures.at("test_elbo"), scale_, dims);
    if (figures.count("test_loglik"))
      figures["test_loglik_bits_per_dim"] = models::bits_per_dim(figures.at("test_loglik"), scale_, dims);
  }
}

void VaeTask::plot_latents(Session& s, const models::LatentReport& r) {
  if (!r.kl_per_dim.empty()) {  // the posterior-collapse view: KL of each latent dim, largest first
    std::vector<size_t> order(r.kl_per_dim.size());
    for (size_t j = 0; j < order.size(); ++j) order[j] = j;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return r.kl_per_dim[a] > r.kl_per_dim[b]; });
    std::vector<double> v;
    std::vector<std::string> labels;
    std::vector<bool> active;
    for (size_t j : order) v.push_back(r.kl_per_dim[j]), labels.push_back(std::to_string(j)), active.push_back(r.active[j]);
    models::plot_bars(s.path("kl_per_dim.png"),
                      {fmt::format("KL per latent dimension: {} on {}", description_, s.data_name),
                       "latent dimension (sorted by KL)", "KL(q(z_j|x) || p(z_j)), nats",
                       fmt::format("{} of {} dimensions active (Var_x E_q[z_j] > 0.01); total KL {:.2f} nats",
                                   r.active_units, v.size(), std::accumulate(v.begin(), v.end(), 0.0))},
                      v, labels, active, "active", "inactive (collapsed)");
  }
  const ImageData& d = s.images();
  if (!d.test.labels.defined()) return;  // a scatter of the test set's posterior means, by label
  NoGradGuard ng;
  const dist::AnyDistribution q = m_.posterior(d.test_x);
  if (q.event_shape().size() != 1 || q.event_shape()[0] < 2) return;
  const Tensor mu = models::location(q), xy = q.event_shape()[0] == 2 ? mu.to(DType::f64) : models::principal_components(mu);
  const std::vector<double> all = xy.to_vector<double>();
  std::vector<double> xs, ys;
  for (size_t i = 0; i < all.size(); i += 2) xs.push_back(all[i]), ys.push_back(all[i + 1]);
  const std::vector<int64_t> groups = d.test.labels.to_vector<int64_t>();
  const int64_t k = *std::max_element(groups.begin(), groups.end()) + 1;
  std::vector<std::string> names;
  for (int64_t g = 0; g < k; ++g) names.push_back(std::to_string(g));
  const bool pca = q.event_shape()[0] > 2;
  models::plot_scatter(s.path("latent_scatter.png"),
                       {fmt::format("Posterior means of the test set, by label: {} on {}", description_, s.data_name),
                        pca ? "first principal component of E_q[z|x]" : "E_q[z_1|x]",
                        pca ? "second principal component" : "E_q[z_2|x]",
                        fmt::format("{} test examples; latent dimension {}{}", xs.size(), q.event_shape()[0],
                                    pca ? ", projected on its first two principal components" : "")},
                       xs, ys, groups, names);
}

void VaeTask::summaries(Session& s, SummaryWriter& tb, int64_t step) {
  NoGradGuard ng;
  const dist::AnyDistribution q = m_.posterior(s.images().test_x);
  tb.add_histogram("latent/mean", models::location(q), step);
  if (q.has_moments()) tb.add_histogram("latent/log_variance", log(q.variance()), step);
}

}  // namespace elbo::training

namespace elbo::training {

// ---- conditional VAE ----

int64_t label_classes(const ImageData& d, const std::string& name) {
  ELBO_CHECK(d.train.labels.defined() && d.test.labels.defined(),
             "{}: the data has no labels for its {} split (a model given labels needs them for both; IDX: "
             "*-labels-idx1-ubyte, NumPy: *_labels.npy)", name, d.train.labels.defined() ? "test" : "training");
  const std::vector<int64_t> train = d.train.labels.to_vector<int64_t>(), test = d.test.labels.to_vector<int64_t>();
  ELBO_CHECK(!train.empty() && !test.empty(), "{}: no labelled examples", name);
  const int64_t largest = *std::max_element(train.begin(), train.end());
  ELBO_CHECK(largest < (int64_t(1) << 16), "{}: the training labels name a class {}; a model given labels takes at "
             "most 65536 classes (one-hot inputs)", name, largest);
  const int64_t classes = largest + 1;
  const int64_t top = *std::max_element(test.begin(), test.end());
  ELBO_CHECK(top < classes, "{}: the test set has label {}, but the training labels run 0..{}", name, top, classes - 1);
  return classes;
}

void ConditionalVaeTask::check() const {
  ELBO_CHECK(train_labels_.defined() && test_labels_.defined(), "ConditionalVaeTask: the data has no labels");
  models::check_labels("ConditionalVaeTask (training labels)", train_labels_, -1, m_.classes());
  models::check_labels("ConditionalVaeTask (test labels)", test_labels_, -1, m_.classes());
}

Tensor ConditionalVaeTask::loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) {
  const Tensor y = index_select(train_labels_, 0, tensor(ids, {int64_t(ids.size())}, DType::i64));
  return models::loss(models::given(m_, y), x, gen, obj_, step);
}

Tensor ConditionalVaeTask::score(const Tensor&, Generator&) {
  throw Error("ConditionalVaeTask::score: the test figure needs each row's label; call score_test(x, first, gen)");
}

Tensor ConditionalVaeTask::score_test(const Tensor& x, int64_t first, Generator& gen) {
  return models::elbo(models::given(m_, narrow(test_labels_, 0, first, x.size(0))), x, gen).elbo;
}

void ConditionalVaeTask::finish(Session& s, Generator& gen, std::map<std::string, double>& figures) {
  NoGradGuard ng;
  const ImageData& d = s.images();
  const int64_t h = d.test.height, w = d.test.width, c = m_.classes(), n = d.test_x.size(0);
  auto shown = [&](const Tensor& z, const Tensor& y) { return clamp(models::location(m_.likelihood(z, y)), 0.0, 1.0); };
  std::vector<std::string> rows;
  for (int64_t k = 0; k < c; ++k) rows.push_back(fmt::format("y = {}", k));
  // samples: one row per class, z ~ p(z | y)
  const int64_t per = 10;
  const Tensor ys = repeat_interleave(arange(c), per, 0);
  const dist::AnyDistribution prior = m_.prior(ys);
  const Tensor z = prior.batch_shape().empty() ? prior.sample(gen, {c * per}) : prior.sample(gen);
  models::save_captioned_grid(s.path("samples.png"), shown(z, ys), h, w, per,
                              fmt::format("means of p(x|z, y), z ~ p(z); row k: y = k ({} per class)", per), 2, rows);
  // reconstructions at each test image's own label
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < 32; ++i) pick.push_back(i * n / 32);
  const Tensor ids = tensor(pick, {int64_t(pick.size())}, DType::i64);
  const Tensor x = index_select(d.test_x, 0, ids), y = index_select(test_labels_, 0, ids);
  const Tensor rec = shown(models::location(m_.posterior(x, y)), y);
  models::save_captioned_grid(s.path("reconstructions.png"), cat({x, rec}, 0), h, w, 8,
                              "rows 1-4: test images; rows 5-8: their reconstructions at their own labels");
  // analogies (Kingma et al. 2014, figure 1): the style z of a test image, E_q[z | x, y], drawn as every class
  const int64_t styles = std::min<int64_t>(8, n);
  const Tensor sx = narrow(x, 0, 0, styles), sy = narrow(y, 0, 0, styles);
  const Tensor zs = models::location(m_.posterior(sx, sy));  // [styles, L]
  std::vector<Tensor> grid;
  std::vector<std::string> names;
  for (int64_t i = 0; i < styles; ++i) {
    const Tensor zi = expand(narrow(zs, 0, i, 1), {c, zs.size(1)});
    grid.push_back(narrow(sx, 0, i, 1));
    grid.push_back(shown(zi, arange(c)));
    names.push_back(fmt::format("y = {}", sy.to_vector<int64_t>()[size_t(i)]));
  }
  models::save_captioned_grid(s.path("analogies.png"), cat(grid, 0), h, w, c + 1,
                              fmt::format("first column: a test image (its label left); then its z = E_q[z|x, y] "
                                          "drawn as y = 0..{}", c - 1), 2, names);
  // the latents' report over the test set at its labels, in one batch
  const models::LatentReport r = models::latent_report(models::given(m_, test_labels_), d.test_x, 0.01, n);
  figures["active_units"] = double(r.active_units);
  for (size_t j = 0; j < r.kl_per_dim.size(); ++j) figures[fmt::format("kl_dim_{:02d}", j)] = r.kl_per_dim[j];
  if (iw_ > 0) {
    Progress bar(fmt::format("IWAE K={}", iw_), n, s.opt.quiet);
    const int64_t batch = std::max<int64_t>(1, 20000 / iw_);
    double total = 0;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t m = std::min(batch, n - b);
      total += sum(models::iwae(models::given(m_, narrow(test_labels_, 0, b, m)), narrow(d.test_x, 0, b, m), gen, iw_))
                   .item();
      bar.update(b + m, total / double(b + m), "loglik");
    }
    bar.finish();
    figures["test_loglik"] = total / double(n);
  }
}

void ConditionalVaeTask::summaries(Session& s, SummaryWriter& tb, int64_t step) {
  NoGradGuard ng;
  const dist::AnyDistribution q = m_.posterior(s.images().test_x, test_labels_);
  tb.add_histogram("latent/mean", models::location(q), step);
  if (q.has_moments()) tb.add_histogram("latent/log_variance", log(q.variance()), step);
}

}  // namespace elbo::training
