#pragma once
// The zoo's tasks besides the VAE's (training/tasks.h): how each of its other models trains, scores and
// reports under training::run, and the stroke data the sequence VAE trains on.
//   AutoencoderTask  the autoencoder on log p(x | encode(x)); samples and reconstructions
//   SeqVaeTask       the sequence VAE on stroke data (or its decoder alone, the autoregressive baseline);
//                    test ELBO (log-likelihood for the baseline) per sequence and per point, KL per point,
//                    --iw's log-likelihood; drawings of samples, reconstructions and interpolations
//   ViTask           non-amortized VI: a decoder with per-example posteriors, local_steps updates of a
//                    batch's posteriors per visit (the last joint with the decoder); test figures from
//                    per-example optimization of q from the prior
// The semi-supervised VAE's task is tools/ssvae_task.h.
#include <memory>

#include "models/autoencoder.h"
#include "models/seqvae.h"
#include "models/strokes.h"
#include "models/vi.h"
#include "training/tasks.h"

namespace elbo::zoo {

using training::Session;
using training::Task;

// Stroke sequences (elbo-data strokes): the loop's batches are padded stroke-5 tensors of the training
// sequences; the test figure is the mean over the test sequences in batches of 256.
class StrokeData : public training::RunData {
 public:
  StrokeData(models::StrokeSet train, models::StrokeSet test);
  const training::BatchSource& train_batches() const override { return *batches_; }
  int64_t test_size() const override { return test.size(); }
  double test_figure(Task& t, Generator& gen) const override;
  std::string describe() const override;  // "N train, M test sequences"
  std::string figures_per() const override { return "test sequence (and per point where named)"; }
  uint64_t fingerprint(uint64_t h) const override;

  models::StrokeSet train, test;

 private:
  std::unique_ptr<training::BatchSource> batches_;  // views `train`
};

// The strokes-{train,test}.bin of o.data, each cut to o.limit sequences when it is positive: a
// training::Session::Loader. A directory without them is refused with an error that says so.
std::shared_ptr<const training::RunData> load_strokes(const training::Options& o);
// The session's data as strokes; an Error naming the data when it is not.
const StrokeData& strokes(const Session& s);

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
  SeqVaeTask(const StrokeData& data, models::SeqVae& m, models::Objective obj, int iw = 0, double temperature = 0.4);
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return m_.options().use_latent ? "elbo" : "loglik"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;  // x: a padded stroke-5 batch
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;
  // histograms of q(z|x)'s means and log-variances over the test set
  void summaries(Session& s, training::SummaryWriter& tb, int64_t step) override;

 private:
  void draw(Session& s, Generator& gen);
  const StrokeData& data_;
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
  std::vector<Tensor> params_;  // the decoder's, whose local-step gradients loss() clears
};

}  // namespace elbo::zoo
