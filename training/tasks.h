#pragma once
// The zoo's tasks: how each model trains, scores and reports under training::run.
//   VaeTask          any model with an encoder (the zoo's VAE or a user's: an nn::Module that is a
//                    models::AmortizedModel) on the objective's loss; test ELBO; samples and
//                    reconstructions (the means of p(x|z)), the latent manifold (2-D latents), active
//                    units, KL per dim (per stochastic layer for a hierarchy), and --iw's log-likelihood
//   AutoencoderTask  the autoencoder on log p(x | encode(x)); samples and reconstructions
//   SeqVaeTask       the sequence VAE on stroke data (or its decoder alone, the autoregressive baseline);
//                    test ELBO (log-likelihood for the baseline) per sequence and per point, KL per point,
//                    --iw's log-likelihood; drawings of samples, reconstructions and interpolations
//   ViTask           non-amortized VI: a decoder with per-example posteriors, local_steps updates of a
//                    batch's posteriors per visit (the last joint with the decoder); test figures from
//                    per-example optimization of q from the prior
#include "../models/autoencoder.h"
#include "../models/seqvae.h"
#include "../models/vi.h"
#include "trainer.h"

namespace elbo::training {

class VaeTask : public Task {
 public:
  template <class M>
    requires std::derived_from<M, nn::Module> && std::derived_from<M, models::AmortizedModel>
  VaeTask(M& m, models::Objective obj, int iw = 0, std::string description = "")
      : module_(m), m_(m), obj_(obj), iw_(iw), description_(std::move(description)) {
    if (description_.empty()) {
      if constexpr (requires { m.describe(); }) description_ = m.describe();
      else description_ = m.type_name();
    }
    if constexpr (requires { m.decoder().head().scale(); }) scale_ = m.decoder().head().scale();
    if constexpr (requires { m.layers(); }) per_layer_ = true;  // a hierarchy (models::HierarchicalVae)
  }
  nn::Module& module() override { return module_; }
  std::string describe() const override { return description_; }
  const char* figure() const override { return "elbo"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;
  // histograms of q(z|x)'s means and log-variances over the test set
  void summaries(Session& s, SummaryWriter& tb, int64_t step) override;

 private:
  // kl_per_dim.png (sorted bars, active units marked) and, for labelled test data, latent_scatter.png
  void plot_latents(Session& s, const models::LatentReport& r);
  nn::Module& module_;
  const models::AmortizedModel& m_;
  models::Objective obj_;
  int iw_;
  std::string description_;
  models::LikelihoodScale scale_ = models::LikelihoodScale::other;  // for bits per dim of 8-bit images
  bool per_layer_ = false;  // report the KL and active units of each stochastic layer
};

class AutoencoderTask : public Task {
 public:
  explicit AutoencoderTask(models::Autoencoder& m) : m_(m) {}
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "recon_loglik"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;

 private:
  models::Autoencoder& m_;
};

class SeqVaeTask : public Task {
 public:
  // temperature: for the drawn samples (reconstructions and interpolations use half of it).
  SeqVaeTask(Session& s, models::SeqVae& m, models::Objective obj, int iw = 0, double temperature = 0.4);
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return m_.options().use_latent ? "elbo" : "loglik"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;  // x: a padded stroke-5 batch
  Tensor score_rows(const std::vector<int64_t>& ids, Generator& gen) override;
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;
  // histograms of q(z|x)'s means and log-variances over the test set
  void summaries(Session& s, SummaryWriter& tb, int64_t step) override;

 private:
  void draw(Session& s, Generator& gen);
  Session& s_;
  models::SeqVae& m_;
  models::Objective obj_;
  int iw_;
  double temperature_;
};

struct ViOptions {
  double local_lr = 0.1;  // the per-example parameters' learning rate, in training and at test time
  int local_steps = 5;    // updates of a batch's posteriors per visit
  int test_steps = 100;   // Adam steps of per-example optimization at test time
};

class ViTask : public Task {
 public:
  ViTask(models::DecoderModel& m, int64_t examples, const ViOptions& o);
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "elbo"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  void after_step() override { local_.step(ids_); }
  bool data_parallel() const override { return false; }
  nn::NamedTensors state() const override;
  void load_state(const std::map<std::string, Tensor>& state, const std::string& file) override;
  Tensor score(const Tensor& x, Generator& gen) override;
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;

 private:
  models::DecoderModel& m_;
  models::LocalPosteriors local_;
  ViOptions o_;
  std::vector<int64_t> ids_;
};

// Writes OUT/samples.png (64 images) and OUT/reconstructions.png (32 test images spread over the test set,
// above their reconstructions).
void save_image_reports(Session& s, const Tensor& samples, const std::function<Tensor(const Tensor&)>& reconstruct);

}  // namespace elbo::training
