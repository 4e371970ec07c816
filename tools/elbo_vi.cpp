// elbo-vi: non-amortized variational inference.
//   default      train a decoder jointly with per-example q(z | x_i) = N(mu_i, exp(logvar_i)) for every
//                training example (--local-steps updates of a batch's posteriors per visit, the last one
//                joint with the decoder; checkpoints keep the posteriors, so --resume continues them);
//                test figures come from test-time optimization of q for each test example under the
//                trained decoder (--vi-steps Adam steps), and its cost per example.
//   --gap        the amortization-gap report for a trained VAE (--load its checkpoint; the same --arch,
//                --hidden, --latent, --likelihood as it was trained with): per test example the encoder's
//                ELBO, the ELBO of q optimized from the encoder's output, and an IWAE estimate of log p(x)
//                (--iw K, default 1000); approximation and amortization gaps with standard errors.
#include <elbo/elbo.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "models/image.h"
#include "models/vi.h"
#include "zoo.h"
#include "zoo_train.h"

using namespace elbo;
namespace fs = std::filesystem;

namespace {
class ViRunner : public zoo::Runner {
 public:
  ViRunner(models::DecoderModel& m, int64_t n, double lr, int local_steps, int steps)
      : m_(m), local_(n, m.options().latent), lr_(lr), local_steps_(local_steps), steps_(steps) {}
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "elbo"; }
  // Each visit of a batch: local_steps - 1 updates of its posteriors alone, then the joint step that also
  // moves the decoder (the decoder gradients of the first ones are cleared by the training loop).
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t) override {
    ids_ = ids;
    for (int k = 1; k < local_steps_; ++k) {
      const models::QParams rows = local_.gather(ids);
      (-mean(models::elbo_of(decode(), m_.options().likelihood, x, rows.mu, rows.logvar, gen))).backward();
      local_.step(ids, rows, lr_);
    }
    rows_ = local_.gather(ids);
    return -mean(models::elbo_of(decode(), m_.options().likelihood, x, rows_.mu, rows_.logvar, gen));
  }
  void after_step() override { local_.step(ids_, rows_, lr_); }
  std::vector<std::pair<std::string, Tensor>> extra_state() const override {
    auto s = local_.state();
    for (auto& [name, t] : s) name = "local." + name;
    return s;
  }
  void load_extra_state(const std::map<std::string, Tensor>& state, const std::string& file) override {
    std::map<std::string, Tensor> local;
    for (const auto& [name, t] : state)
      if (name.rfind("local.", 0) == 0) local.emplace(name.substr(6), t);
    local_.load_state(local, file);
  }
  // Test-time inference: optimize q for each test example from the prior N(0, I), at the local learning rate.
  Tensor score(const Tensor& x, Generator& gen) override {
    const int64_t b = x.shape()[0], l = m_.options().latent;
    const auto q = models::optimize_q(decode(), m_.options().likelihood, x, {zeros({b, l}), zeros({b, l})}, gen, steps_, lr_);
    NoGradGuard ng;
    return models::elbo_of(decode(), m_.options().likelihood, x, q.mu, q.logvar, gen);
  }
  void finish(zoo::Session& s, Generator& gen, std::map<std::string, double>& out) override {
    const int64_t n = std::min<int64_t>(500, s.test.size());
    const auto t0 = std::chrono::steady_clock::now();
    (void)score(narrow(s.test_x, 0, 0, n), gen);
    out["inference_ms_per_example"] =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / double(n);
    out["vi_steps"] = steps_;
    NoGradGuard ng;
    const Tensor img = m_.options().likelihood.mean(m_.decode(randn({64, m_.options().latent}, gen)));
    models::save_image_grid((fs::path(s.cfg.out) / "samples.png").string(), img, s.test.height, s.test.width, 8);
  }

 private:
  models::DecodeFn decode() {
    return [this](const Tensor& z) { return m_.decode(z); };
  }
  models::DecoderModel& m_;
  models::LocalPosteriors local_;
  double lr_;
  int local_steps_, steps_;
  std::vector<int64_t> ids_;
  models::QParams rows_;
};
}  // namespace

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  bool gap = false;
  int steps = 100;
  int local_steps = 5;
  double local_lr = 0.1;
  CLI::App app{"elbo-vi: non-amortized variational inference, and the amortization-gap report for a trained VAE"};
  zoo::add_common_flags(app, c);
  model.add(app, c);
  app.add_flag("--gap", gap, "amortization-gap report for the VAE given by --load");
  app.add_option("--vi-steps", steps, "Adam steps of per-example optimization at test time")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--local-steps", local_steps, "updates of a batch's posteriors per visit (the last one joint with the decoder)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--local-lr", local_lr, "learning rate of the per-example parameters, in training and in test-time inference (--gap starts from the encoder and keeps 0.01)")->capture_default_str()->check(zoo::positive_finite());
  zoo::parse_or_exit(app, argc, argv, "elbo-vi");
  return zoo::run_main("elbo-vi", [&] {
    zoo::Session s(c);
    const models::VaeOptions o = model.options(c, s);
    Generator init(c.seed);
    if (gap) {
      if (c.load.empty()) throw ValueError("--gap needs --load with a trained VAE checkpoint");
      models::VAE vae(o, init);
      nn::load(vae, c.load);
      Generator gen(c.seed + 3);
      const auto r = models::amortization_gap(vae, s.test_x, gen, steps, c.iw > 0 ? c.iw : 1000);
      std::cerr << fmt::format(
          "{} on {}: over {} test examples\n  log p(x) (IWAE K={})      {:.2f}\n  ELBO, optimized q         {:.2f}\n"
          "  ELBO, encoder q           {:.2f}\n  approximation gap         {:.2f} +- {:.2f} nats\n"
          "  amortization gap          {:.2f} +- {:.2f} nats\n  cost per example: encoder {:.4f} ms, "
          "{}-step optimization {:.2f} ms\n",
          vae.describe(), s.data_name, r.examples, c.iw > 0 ? c.iw : 1000, r.loglik, r.optimized_elbo, r.encoder_elbo,
          r.approximation_gap, r.approximation_se, r.amortization_gap, r.amortization_se, r.encoder_ms_per_example,
          steps, r.optimize_ms_per_example);
      std::cout << zoo::json_object({{"test_loglik", r.loglik},
                                     {"test_elbo_optimized", r.optimized_elbo},
                                     {"test_elbo_encoder", r.encoder_elbo},
                                     {"approximation_gap", r.approximation_gap},
                                     {"approximation_gap_se", r.approximation_se},
                                     {"amortization_gap", r.amortization_gap},
                                     {"amortization_gap_se", r.amortization_se},
                                     {"encoder_ms_per_example", r.encoder_ms_per_example},
                                     {"optimize_ms_per_example", r.optimize_ms_per_example}},
                                    {{"model", vae.describe()}, {"data", s.data_name}, {"binarize", c.binarize}})
                << "\n";
      return 0;
    }
    models::DecoderModel decoder(o, init);
    ViRunner runner(decoder, s.train.size(), local_lr, local_steps, steps);
    return zoo::run(s, runner);
  });
}
