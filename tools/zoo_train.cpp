#include "zoo_train.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <iostream>

#include <elbo/elbo.h>

#include "models/image.h"

namespace elbo::zoo {
namespace fs = std::filesystem;

Session::Session(const Config& c) : cfg(c) {
  if (c.threads > 0) set_num_threads(c.threads);
  train = models::head(models::load_split(c.data, "train"), c.limit > 0 ? c.limit : INT64_MAX);
  test = models::head(models::load_split(c.data, "t10k"), c.limit > 0 ? c.limit : INT64_MAX);
  binarize = models::parse_binarize(c.binarize);
  Generator g(c.seed ^ 0x7e57);  // the test set's binarization is fixed for the run
  test_x = models::binarize(test.images, binarize, g);
  data_name = fs::path(c.data).filename().string();
  if (data_name.empty()) data_name = fs::path(c.data).parent_path().filename().string();
  fs::create_directories(c.out);
}

std::string Session::checkpoint_path() const { return (fs::path(cfg.out) / "checkpoint.safetensors").string(); }

CLI::Option* ModelFlags::add(CLI::App& app, Config& c) {
  app.add_option("--arch", c.arch, "mlp | conv")->capture_default_str()->check(CLI::IsMember({"mlp", "conv"}));
  return app.add_option("--likelihood", name, "bernoulli | gaussian | continuous-bernoulli | categorical")
      ->capture_default_str()
      ->check(CLI::IsMember({"bernoulli", "gaussian", "continuous-bernoulli", "categorical"}));
}

models::VaeOptions ModelFlags::options(const Config& c, const Session& s) const {
  models::VaeOptions o;
  o.arch = c.arch, o.hidden = c.hidden, o.latent = c.latent, o.height = s.train.height, o.width = s.train.width;
  o.likelihood = likelihood;
  o.likelihood.kind = models::parse_likelihood(name).kind;
  return o;
}

double evaluate(Runner& r, const Tensor& x, int64_t batch, Generator& gen) {
  NoGradGuard ng;
  const int64_t n = x.shape()[0];
  double total = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t len = std::min(batch, n - b);
    total += sum(r.score(narrow(x, 0, b, len), gen)).item();
  }
  return total / double(n);
}

namespace {

// The standard normal quantile, by bisection on Phi(z) = erfc(-z / sqrt 2) / 2.
double normal_icdf(double p) {
  double lo = -10, hi = 10;
  for (int k = 0; k < 80; ++k) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Checkpoint: the model's tensors under "model.", the optimizer's under "optim.", the runner's own under
// "runner.", the generator state and the epoch as metadata, written atomically by nn::save_tensors.
void save_checkpoint(const Session& s, Runner& r, optim::Adam& opt, const Generator& gen, int epoch) {
  std::vector<std::pair<std::string, Tensor>> all;
  for (auto& [name, t] : r.module().named_parameters()) all.emplace_back("model." + name, t);
  for (auto& [name, t] : opt.state_dict()) all.emplace_back("optim." + name, t);
  for (auto& [name, t] : r.extra_state()) all.emplace_back("runner." + name, t);
  const Generator::State st = gen.state();
  std::map<std::string, std::string> meta{{"epoch", std::to_string(epoch)},
                                          {"model", r.describe()},
                                          {"rng", fmt::format("{} {} {} {} {} {}", st.s[0], st.s[1], st.s[2], st.s[3],
                                                              std::bit_cast<uint64_t>(st.cached_normal),
                                                              int(st.has_cached))}};
  nn::save_tensors(s.checkpoint_path(), all, meta);
}

int load_checkpoint(const Session& s, Runner& r, optim::Adam& opt, Generator& gen) {
  const nn::TensorFile f = nn::load_tensors(s.checkpoint_path());
  std::vector<std::pair<std::string, Tensor>> model, optim;
  std::map<std::string, Tensor> runner;
  for (const auto& [name, t] : f.tensors) {
    if (name.rfind("model.", 0) == 0) model.emplace_back(name.substr(6), t);
    else if (name.rfind("optim.", 0) == 0) optim.emplace_back(name.substr(6), t);
    else if (name.rfind("runner.", 0) == 0) runner.emplace(name.substr(7), t);
  }
  nn::load_state(r.module(), model, s.checkpoint_path());
  opt.load_state_dict(optim);
  r.load_extra_state(runner, s.checkpoint_path());
  Generator::State st{};
  uint64_t cached = 0;
  int has = 0;
  const std::string rng = f.metadata.count("rng") ? f.metadata.at("rng") : "";
  if (std::sscanf(rng.c_str(), "%lu %lu %lu %lu %lu %d", &st.s[0], &st.s[1], &st.s[2], &st.s[3], &cached, &has) != 6)
    throw IOError(fmt::format("{}: checkpoint metadata has no valid generator state", s.checkpoint_path()));
  st.cached_normal = std::bit_cast<double>(cached);
  st.has_cached = has != 0;
  gen.set_state(st);
  return std::stoi(f.metadata.at("epoch"));
}

}  // namespace

int run(Session& s, Runner& r) {
  const Config& c = s.cfg;
  Generator gen(c.seed + 1);
  optim::Adam opt(r.module().parameters(), {.lr = c.lr});
  if (!c.load.empty()) nn::load(r.module(), c.load);
  int start_epoch = 0;
  if (c.resume) {
    if (!fs::exists(s.checkpoint_path()))
      throw IOError(fmt::format("--resume: no checkpoint at {}", s.checkpoint_path()));
    start_epoch = load_checkpoint(s, r, opt, gen);
  }
  const std::string label = fmt::format("{} on {} ({} binarization)", r.describe(), s.data_name, c.binarize);
  if (!c.quiet) std::cerr << label << "\n";
  Metrics metrics((fs::path(c.out) / "metrics.jsonl").string(), c.eval_only ? INT64_MAX : start_epoch);
  std::vector<double> train_curve, test_curve;
  const int64_t n = s.train.size(), nb = (n + c.batch - 1) / c.batch;
  int64_t step = int64_t(start_epoch) * nb;
  double examples = 0, train_seconds = 0;
  const int epochs = c.eval_only ? start_epoch : c.epochs;
  for (int epoch = start_epoch; epoch < epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<int64_t> order = models::permutation(n, gen);
    Progress bar(fmt::format("epoch {}/{}", epoch + 1, epochs), n, c.quiet);
    double running = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t lo = b * c.batch, hi = std::min(n, lo + c.batch);
      const Tensor x = models::binarize(models::rows(s.train.images, order, lo, hi), s.binarize, gen);
      const std::vector<int64_t> ids(order.begin() + lo, order.begin() + hi);
      const Tensor loss = r.loss(x, ids, gen, ++step);
      const double l = loss.item();
      if (!std::isfinite(l))
        throw Error(fmt::format("training diverged at epoch {} step {}: the loss is {} (try a smaller --lr); the last "
                                "good checkpoint is {}", epoch + 1, step, l, s.checkpoint_path()));
      opt.zero_grad();
      loss.backward();
      opt.step();
      r.after_step();
      running += l * double(hi - lo);
      bar.update(hi, -running / double(hi), r.figure());
    }
    bar.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += secs;
    examples += double(n);
    Generator eval_gen(c.seed + 2);
    const double test = evaluate(r, s.test_x, 500, eval_gen);
    train_curve.push_back(-running / double(n));
    test_curve.push_back(test);
    metrics.write({{"epoch", epoch + 1},
                   {fmt::format("train_{}", r.figure()), -running / double(n)},
                   {fmt::format("test_{}", r.figure()), test},
                   {"seconds", secs},
                   {"examples_per_sec", double(n) / secs}},
                  {{"model", r.describe()}, {"data", s.data_name}, {"binarize", c.binarize}});
    if (!c.quiet)
      std::cerr << fmt::format("epoch {}: train {} {:.2f}, test {} {:.2f} nats ({:.1f}s, {:.0f} ex/s)\n", epoch + 1,
                               r.figure(), -running / double(n), r.figure(), test, secs, double(n) / secs);
    save_checkpoint(s, r, opt, gen, epoch + 1);
  }
  const std::string save = c.save.empty() ? (fs::path(c.out) / "model.safetensors").string() : c.save;
  if (!c.eval_only) nn::save(r.module(), save);
  if (!train_curve.empty())
    models::save_line_chart((fs::path(c.out) / "training_curve.png").string(),
                            {{"train", train_curve}, {"test", test_curve}});
  Generator eval_gen(c.seed + 2);
  std::map<std::string, double> out;
  out[fmt::format("test_{}", r.figure())] = evaluate(r, s.test_x, 500, eval_gen);
  out["seconds"] = train_seconds;
  out["examples_per_sec"] = train_seconds > 0 ? examples / train_seconds : 0;
  out["epochs"] = epochs;
  r.finish(s, eval_gen, out);
  std::cout << json_object(out, {{"model", r.describe()}, {"data", s.data_name}, {"binarize", c.binarize}}) << "\n";
  return 0;
}

Tensor VaeRunner::score(const Tensor& x, Generator& gen) { return m_.elbo(x, gen).elbo; }

void VaeRunner::finish(Session& s, Generator& gen, std::map<std::string, double>& out) {
  const Config& c = s.cfg;
  const int64_t h = s.test.height, w = s.test.width;
  models::save_image_grid((fs::path(c.out) / "samples.png").string(), m_.sample_images(64, gen), h, w, 8);
  // reconstructions: 8 test images (spread over the sorted test set) above their reconstructions
  std::vector<int64_t> pick;
  const int64_t n = s.test.size();
  for (int64_t i = 0; i < 32; ++i) pick.push_back(i * n / 32);
  const Tensor x = models::rows(s.test_x, pick, 0, int64_t(pick.size()));
  models::save_image_grid((fs::path(c.out) / "reconstructions.png").string(), cat({x, m_.reconstruct(x)}, 0), h, w, 8);
  if (m_.options().latent == 2) {  // Kingma and Welling's Figure 4: decoder means over a grid of z
    const int g = 20;
    std::vector<double> zs;
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) {  // through the inverse normal CDF of evenly spaced quantiles
        zs.push_back(normal_icdf((j + 0.5) / g));
        zs.push_back(normal_icdf((g - i - 0.5) / g));
      }
    NoGradGuard ng;
    const Tensor img = m_.options().likelihood.mean(m_.decode(tensor(zs, {g * g, 2})));
    models::save_image_grid((fs::path(c.out) / "latent_manifold.png").string(), img, h, w, g, 0);
  }
  NoGradGuard ng;
  // active units: latent dims with Var_x E_q[z_j] > 0.01 (Burda et al. 2016); KL per latent dim
  const Tensor mu = m_.encode(s.test_x).mu, var = mean(square(mu - mean(mu, {0}, true)), {0});
  const auto v = var.to_vector<double>();
  out["active_units"] = double(std::count_if(v.begin(), v.end(), [](double a) { return a > 0.01; }));
  const auto kl = mean(models::kl_standard_normal(m_.encode(s.test_x), true), {0}).to_vector<double>();
  for (size_t j = 0; j < kl.size(); ++j) out[fmt::format("kl_dim_{:02d}", j)] = kl[j];
  if (c.iw > 0) {
    double total = 0;
    const int64_t nt = s.test_x.shape()[0], chunk = std::max<int64_t>(1, 20000 / std::max(c.iw, 1));
    Progress bar(fmt::format("IWAE K={}", c.iw), nt, c.quiet);
    for (int64_t b = 0; b < nt; b += chunk) {
      const int64_t len = std::min(chunk, nt - b);
      total += sum(m_.iwae(narrow(s.test_x, 0, b, len), gen, c.iw)).item();
      bar.update(b + len, total / double(b + len), "loglik");
    }
    bar.finish();
    out["test_loglik"] = total / double(nt);
  }
}

}  // namespace elbo::zoo
