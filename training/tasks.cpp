#include "training/tasks.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "distributions/normal.h"
#include "models/image.h"
#include "models/plot.h"
#include "training/report.h"

namespace elbo::training {

void save_image_reports(Session& s, const Tensor& samples, const std::function<Tensor(const Tensor&)>& reconstruct) {
  const int64_t h = s.test.height, w = s.test.width, n = s.test.size();
  models::save_captioned_grid(s.path("samples.png"), samples, h, w, 8,
                              fmt::format("{} samples: means of p(x|z), z ~ p(z)", samples.size(0)));
  if (!reconstruct) return;
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < 32; ++i) pick.push_back(i * n / 32);
  const Tensor x = models::rows(s.test_x, pick, 0, int64_t(pick.size()));
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
  auto shown = [&](const Tensor& z) { return clamp(models::location(m_.likelihood(z)), 0.0, 1.0); };  // p(x|z)'s means
  save_image_reports(s, shown(m_.prior().sample(gen, {64})),
                     [&](const Tensor& x) { return shown(models::location(m_.posterior(x))); });
  if (m_.prior().event_shape() == Shape{2}) {  // Kingma and Welling's Figure 4: decoder means over a grid of z
    const int g = 20;
    std::vector<double> quantiles;  // evenly spaced, through the inverse normal CDF
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) quantiles.push_back((j + 0.5) / g), quantiles.push_back((g - i - 0.5) / g);
    const Tensor z = dist::Normal(zeros({}), ones({})).icdf(tensor(quantiles, {g * g, 2}));
    models::save_captioned_grid(s.path("latent_manifold.png"), shown(z), s.test.height, s.test.width, g,
                                "means of p(x|z) over a 20x20 grid of z at evenly spaced N(0, 1) quantiles", 1);
  }
  const models::LatentReport r = models::latent_report(m_, s.test_x);
  figures["active_units"] = double(r.active_units);
  for (size_t j = 0; j < r.kl_per_dim.size(); ++j) figures[fmt::format("kl_dim_{:02d}", j)] = r.kl_per_dim[j];
  plot_latents(s, r);
  if (iw_ > 0) {
    Progress bar(fmt::format("IWAE K={}", iw_), s.test_x.size(0), s.opt.quiet);
    figures["test_loglik"] = models::mean_over(
        s.test_x, std::max<int64_t>(1, 20000 / iw_), [&](const Tensor& x) { return models::iwae(m_, x, gen, iw_); },
        [&](int64_t done, double mean) { bar.update(done, mean, "loglik"); });
    bar.finish();
  }
  // bits per dimension of the 8-bit images, where the head and the pixels allow that reading (likelihood.h)
  const bool eight_bit = (scale_ == models::LikelihoodScale::probability && s.binarize == models::Binarize::none) ||
                         (scale_ == models::LikelihoodScale::density && s.binarize == models::Binarize::dequantize);
  if (eight_bit) {
    const int64_t d = s.test_x.size(1);
    figures["test_bits_per_dim"] = models::bits_per_dim(figures.at("test_elbo"), scale_, d);
    if (figures.count("test_loglik")) figures["test_loglik_bits_per_dim"] = models::bits_per_dim(figures.at("test_loglik"), scale_, d);
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
  if (!s.test.labels.defined()) return;  // a scatter of the test set's posterior means, by label
  NoGradGuard ng;
  const dist::AnyDistribution q = m_.posterior(s.test_x);
  if (q.event_shape().size() != 1 || q.event_shape()[0] < 2) return;
  const Tensor mu = models::location(q), xy = q.event_shape()[0] == 2 ? mu.to(DType::f64) : models::principal_components(mu);
  const std::vector<double> all = xy.to_vector<double>();
  std::vector<double> xs, ys;
  for (size_t i = 0; i < all.size(); i += 2) xs.push_back(all[i]), ys.push_back(all[i + 1]);
  const std::vector<int64_t> groups = s.test.labels.to_vector<int64_t>();
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
  const dist::AnyDistribution q = m_.posterior(s.test_x);
  tb.add_histogram("latent/mean", models::location(q), step);
  if (q.has_moments()) tb.add_histogram("latent/log_variance", log(q.variance()), step);
}

// ---- autoencoder ----

Tensor AutoencoderTask::loss(const Tensor& x, const std::vector<int64_t>&, Generator&, int64_t) {
  return -mean(m_.log_likelihood(x));
}

Tensor AutoencoderTask::score(const Tensor& x, Generator&) { return m_.log_likelihood(x); }

void AutoencoderTask::finish(Session& s, Generator& gen, std::map<std::string, double>&) {
  save_image_reports(s, m_.sample_images(64, gen), [&](const Tensor& x) { return m_.reconstruct(x); });
}

// ---- non-amortized VI ----

ViTask::ViTask(models::DecoderModel& m, int64_t examples, const ViOptions& o)
    : m_(m), local_(examples, m.options().latent, o.local_lr), o_(o) {}

// local_steps - 1 updates of the batch's posteriors alone, then the joint step that also moves the
// decoder (run() clears the decoder gradients the first ones leave).
Tensor ViTask::loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t) {
  ids_ = ids;
  for (int k = 1; k < o_.local_steps; ++k) {
    (-mean(models::elbo(m_, local_.q(ids), x, gen).elbo)).backward();
    local_.step(ids);
  }
  return -mean(models::elbo(m_, local_.q(ids), x, gen).elbo);
}

nn::NamedTensors ViTask::state() const {
  nn::NamedTensors s = local_.state();
  for (auto& [name, t] : s) name = "local." + name;
  return s;
}

void ViTask::load_state(const std::map<std::string, Tensor>& state, const std::string& file) {
  std::map<std::string, Tensor> local;
  for (const auto& [name, t] : state)
    if (name.rfind("local.", 0) == 0) local.emplace(name.substr(6), t);
  local_.load_state(local, file);
}

Tensor ViTask::score(const Tensor& x, Generator& gen) {
  const int64_t b = x.size(0), l = m_.options().latent;
  const models::QParams q = models::optimize_q(m_, x, {zeros({b, l}), zeros({b, l})}, gen, o_.test_steps, o_.local_lr);
  NoGradGuard ng;
  return models::elbo(m_, q.q(), x, gen).elbo;
}

void ViTask::finish(Session& s, Generator& gen, std::map<std::string, double>& figures) {
  const int64_t n = std::min<int64_t>(500, s.test.size());
  const auto t0 = std::chrono::steady_clock::now();
  (void)score(narrow(s.test_x, 0, 0, n), gen);
  figures["inference_ms_per_example"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / double(n);
  figures["vi_steps"] = o_.test_steps;
  NoGradGuard ng;
  save_image_reports(s, m_.decoder().mean(m_.prior().sample(gen, {64})), {});
}

}  // namespace elbo::training
