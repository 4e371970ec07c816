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
  if (per_layer_) {
    // a hierarchy: the KL and active units of each stochastic layer (Burda et al.'s statistic, estimators.h)
    Generator g(s.opt.seed + 3);
    const models::LayerReport lr = models::layer_report(m_, s.test_x, g);
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

// ---- sequence VAE ----

SeqVaeTask::SeqVaeTask(Session& s, models::SeqVae& m, models::Objective obj, int iw, double temperature)
    : s_(s), m_(m), obj_(obj), iw_(iw), temperature_(temperature) {
  ELBO_CHECK(s.sequences, "{} trains on stroke sequences: point --data at the output of `elbo-data strokes`",
             m.describe());
}

Tensor SeqVaeTask::loss(const Tensor&, const std::vector<int64_t>& ids, Generator& gen, int64_t step) {
  const Tensor x = models::stroke5_batch(s_.train_seq, ids, 0, int64_t(ids.size()));
  if (!m_.options().use_latent) return -mean(m_.log_prob(x));
  return models::loss(m_, x, gen, obj_, step);
}

Tensor SeqVaeTask::score(const Tensor& x, Generator& gen) {
  return m_.options().use_latent ? models::elbo(m_, x, gen).elbo : m_.log_prob(x);
}

Tensor SeqVaeTask::score_rows(const std::vector<int64_t>& ids, Generator& gen) {
  return score(models::stroke5_batch(s_.test_seq, ids, 0, int64_t(ids.size())), gen);
}

void SeqVaeTask::finish(Session& s, Generator& gen, std::map<std::string, double>& figures) {
  NoGradGuard ng;
  const int64_t n = s.test_size();
  const double points = double(s.test_seq.points()) / double(n);  // per sequence, on average
  const std::string fig = figure();
  figures["test_points_per_sequence"] = points;
  figures[fmt::format("test_{}_per_point", fig)] = figures.at(fmt::format("test_{}", fig)) / points;
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  const auto over_test = [&](const char* what, int64_t batch, const std::function<Tensor(const Tensor&)>& f) {
    Progress bar(what, n, s.opt.quiet);
    double total = 0;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t e = std::min(n, b + batch);
      total += sum(f(models::stroke5_batch(s.test_seq, all, b, e))).item();
      bar.update(e, total / double(e), what);
    }
    bar.finish();
    return total / double(n);
  };
  if (m_.options().use_latent) {
    const double kl = over_test("KL", 256, [&](const Tensor& x) { return models::elbo(m_, x, gen).kl; });
    figures["test_kl"] = kl;
    figures["test_kl_per_point"] = kl / points;
    const models::LatentReport r = models::latent_report(m_, models::stroke5_batch(s.test_seq, all, 0, n), 0.01, 256);
    figures["active_units"] = double(r.active_units);
    if (iw_ > 0) {
      const double ll = over_test("IWAE", std::max<int64_t>(1, 2000 / iw_),
                                  [&](const Tensor& x) { return models::iwae(m_, x, gen, iw_, std::min(iw_, 500)); });
      figures["test_loglik"] = ll;
      figures["test_loglik_per_point"] = ll / points;
    }
  }
  draw(s, gen);
}

void SeqVaeTask::summaries(Session& s, SummaryWriter& tb, int64_t step) {
  if (!m_.options().use_latent) return;
  NoGradGuard ng;
  std::vector<int64_t> all(static_cast<size_t>(s.test_size()));
  for (int64_t i = 0; i < s.test_size(); ++i) all[size_t(i)] = i;
  const dist::AnyDistribution q = m_.posterior(models::stroke5_batch(s.test_seq, all, 0, s.test_size()));
  tb.add_histogram("latent/mean", models::location(q), step);
  tb.add_histogram("latent/log_variance", log(q.variance()), step);
}

void SeqVaeTask::draw(Session& s, Generator& gen) {
  NoGradGuard ng;
  const models::StrokeDecoder& d = m_.decoder();
  const int64_t max_len = std::max<int64_t>(s.train_seq.max_length() + 50, 100);
  const auto drawings = [&](const Tensor& x) {
    std::vector<std::vector<float>> out;
    for (int64_t b = 0; b < x.size(0); ++b) out.push_back(models::stroke3_of(x, b));
    return out;
  };
  const bool latent = m_.options().use_latent;
  const Tensor samples = d.sample(latent ? m_.prior().sample(gen, {48}) : Tensor(), 48, max_len, temperature_, gen);
  models::save_stroke_grid(s.path("samples.png"), drawings(samples), 8,
                           fmt::format("48 samples at temperature {}{}", temperature_, latent ? ", z ~ p(z)" : ""));
  if (!latent) return;
  const double t_rec = temperature_ / 2;
  const int64_t n = s.test_size(), k = std::min<int64_t>(16, n);
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < k; ++i) pick.push_back(i * n / k);
  const Tensor x = models::stroke5_batch(s.test_seq, pick, 0, k);
  const Tensor z = models::location(m_.posterior(x));
  std::vector<std::vector<float>> rec = drawings(x), back = drawings(d.sample(z, k, max_len, t_rec, gen));
  std::vector<std::vector<float>> grid;
  for (int64_t r = 0; r < k; r += 8) {  // rows of 8 test characters, each above its reconstructions
    for (int64_t i = r; i < std::min(k, r + 8); ++i) grid.push_back(rec[size_t(i)]);
    for (int64_t i = r; i < std::min(k, r + 8); ++i) grid.push_back(back[size_t(i)]);
  }
  models::save_stroke_grid(s.path("reconstructions.png"), grid, 8,
                           fmt::format("test characters (rows 1, 3) above their reconstructions from the mean of "
                                       "q(z|x) (rows 2, 4), temperature {}", t_rec));
  // three rows: z interpolated linearly between the posterior means of two test characters, 10 steps
  std::vector<std::vector<float>> rows;
  for (int64_t r = 0; r < 3 && k >= 2; ++r) {
    const Tensor a = narrow(z, 0, (2 * r) % k, 1), b = narrow(z, 0, (2 * r + 5) % k, 1);
    std::vector<Tensor> zs;
    for (int i = 0; i < 10; ++i) zs.push_back(a + (b - a) * (double(i) / 9));
    const auto row = drawings(d.sample(cat(zs, 0), 10, max_len, t_rec, gen));
    rows.insert(rows.end(), row.begin(), row.end());
  }
  if (!rows.empty())
    models::save_stroke_grid(s.path("interpolations.png"), rows, 10,
                             fmt::format("each row: z moving linearly from one test character's posterior mean to "
                                         "another's, temperature {}", t_rec));
}

}  // namespace elbo::training
