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
