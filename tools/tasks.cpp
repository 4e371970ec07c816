#include "tools/tasks.h"

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
using training::Session;

// ---- autoencoder ----

Tensor AutoencoderTask::loss(const Tensor& x, const std::vector<int64_t>&, Generator&, int64_t) {
  return -mean(m_.log_likelihood(x));
}

Tensor AutoencoderTask::score(const Tensor& x, Generator&) { return m_.log_likelihood(x); }

void AutoencoderTask::finish(Session& s, Generator& gen, std::map<std::string, double>&) {
  training::save_image_reports(s, m_.sample_images(64, gen), [&](const Tensor& x) { return m_.reconstruct(x); });
}

// ---- non-amortized VI ----

ViTask::ViTask(models::DecoderModel& m, int64_t examples, const ViOptions& o)
    : m_(m), local_(examples, m.options().latent, o.local_lr), o_(o), params_(m.parameters()) {}

// local_steps - 1 updates of the batch's posteriors alone, then the joint step that also moves the
// decoder. The local backward passes reach the decoder's parameters too; their gradients are cleared
// before the joint step, so the decoder moves on the joint step's gradient alone, at the improved q.
Tensor ViTask::loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t) {
  ids_ = ids;
  for (int k = 1; k < o_.local_steps; ++k) {
    (-mean(models::elbo(m_, local_.q(ids), x, gen).elbo)).backward();
    local_.step(ids);
  }
  if (o_.local_steps > 1)
    for (Tensor& p : params_) p.set_grad(Tensor());
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
  const training::ImageData& d = s.images();
  const int64_t n = std::min<int64_t>(500, d.test.size());
  const auto t0 = std::chrono::steady_clock::now();
  (void)score(narrow(d.test_x, 0, 0, n), gen);
  figures["inference_ms_per_example"] =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / double(n);
  figures["vi_steps"] = o_.test_steps;
  NoGradGuard ng;
  training::save_image_reports(s, m_.decoder().mean(m_.prior().sample(gen, {64})), {});
}

// ---- sequence VAE ----

namespace {

// One sequence's points in a padded stroke-5 batch: the rows order[lo, hi) of a stroke set.
class StrokeBatches : public training::BatchSource {
 public:
  explicit StrokeBatches(const models::StrokeSet& set) : set_(set) {}
  int64_t size() const override { return set_.size(); }
  Tensor batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator&) const override {
    return models::stroke5_batch(set_, order, lo, hi);
  }

 private:
  const models::StrokeSet& set_;
};

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
  return all;
}

}  // namespace

StrokeData::StrokeData(models::StrokeSet train_set, models::StrokeSet test_set)
    : train(std::move(train_set)), test(std::move(test_set)), batches_(std::make_unique<StrokeBatches>(train)) {}

double StrokeData::test_figure(training::Task& t, Generator& gen) const {
  NoGradGuard ng;
  const int64_t n = test.size(), batch = 256;
  const std::vector<int64_t> all = iota(n);
  double total = 0;
  for (int64_t b = 0; b < n; b += batch)
    total += sum(t.score(models::stroke5_batch(test, all, b, std::min(n, b + batch)), gen)).item();
  return total / double(n);
}

std::string StrokeData::describe() const {
  return fmt::format("{} train, {} test sequences", train.size(), test.size());
}

uint64_t StrokeData::fingerprint(uint64_t h) const {
  h = parallel::fingerprint(fmt::format("{} {}", train.size(), test.size()), h);
  for (const models::StrokeSet* set : {&train, &test})
    h = parallel::fingerprint(std::string_view(reinterpret_cast<const char*>(set->xy.data()), set->xy.size() * 2), h);
  return h;
}

std::shared_ptr<const training::RunData> load_strokes(const training::Options& o) {
  ELBO_CHECK(fs::exists(fs::path(o.data) / "strokes-train.bin"),
             "the sequence VAE trains on stroke sequences: point --data at the output of `elbo-data strokes` "
             "(--data {} has no strokes-train.bin)", o.data);
  const int64_t limit = o.limit > 0 ? o.limit : INT64_MAX;
  return std::make_shared<StrokeData>(models::head(models::load_strokes(o.data, "train"), limit),
                                      models::head(models::load_strokes(o.data, "test"), limit));
}

const StrokeData& strokes(const Session& s) {
  const auto* d = dynamic_cast<const StrokeData*>(s.data.get());
  ELBO_CHECK(d != nullptr, "this model trains on stroke sequences; --data {} holds {}", s.opt.data,
             s.data->describe());
  return *d;
}

SeqVaeTask::SeqVaeTask(const StrokeData& data, models::SeqVae& m, models::Objective obj, int iw, double temperature)
    : data_(data), m_(m), obj_(obj), iw_(iw), temperature_(temperature) {}

Tensor SeqVaeTask::loss(const Tensor& x, const std::vector<int64_t>&, Generator& gen, int64_t step) {
  if (!m_.options().use_latent) return -mean(m_.log_prob(x));
  return models::loss(m_, x, gen, obj_, step);
}

Tensor SeqVaeTask::score(const Tensor& x, Generator& gen) {
  return m_.options().use_latent ? models::elbo(m_, x, gen).elbo : m_.log_prob(x);
}

void SeqVaeTask::finish(Session& s, Generator& gen, std::map<std::string, double>& figures) {
  NoGradGuard ng;
  const models::StrokeSet& test = data_.test;
  const int64_t n = test.size();
  const double points = double(test.points()) / double(n);  // per sequence, on average
  const std::string fig = figure();
  figures["test_points_per_sequence"] = points;
  figures[fmt::format("test_{}_per_point", fig)] = figures.at(fmt::format("test_{}", fig)) / points;
  const std::vector<int64_t> all = iota(n);
  const auto over_test = [&](const char* what, int64_t batch, const std::function<Tensor(const Tensor&)>& f) {
    Progress bar(what, n, s.opt.quiet);
    double total = 0;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t e = std::min(n, b + batch);
      total += sum(f(models::stroke5_batch(test, all, b, e))).item();
      bar.update(e, total / double(e), what);
    }
    bar.finish();
    return total / double(n);
  };
  if (m_.options().use_latent) {
    const double kl = over_test("KL", 256, [&](const Tensor& x) { return models::elbo(m_, x, gen).kl; });
    figures["test_kl"] = kl;
    figures["test_kl_per_point"] = kl / points;
    const models::LatentReport r = models::latent_report(m_, models::stroke5_batch(test, all, 0, n), 0.01, 256);
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

void SeqVaeTask::summaries(Session&, training::SummaryWriter& tb, int64_t step) {
  if (!m_.options().use_latent) return;
  NoGradGuard ng;
  const int64_t n = data_.test.size();
  const dist::AnyDistribution q = m_.posterior(models::stroke5_batch(data_.test, iota(n), 0, n));
  tb.add_histogram("latent/mean", models::location(q), step);
  tb.add_histogram("latent/log_variance", log(q.variance()), step);
}

void SeqVaeTask::draw(Session& s, Generator& gen) {
  NoGradGuard ng;
  const models::StrokeDecoder& d = m_.decoder();
  const int64_t max_len = std::max<int64_t>(data_.train.max_length() + 50, 100);
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
  const int64_t n = data_.test.size(), k = std::min<int64_t>(16, n);
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < k; ++i) pick.push_back(i * n / k);
  const Tensor x = models::stroke5_batch(data_.test, pick, 0, k);
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

}  // namespace elbo::zoo
