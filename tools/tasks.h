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
//   SemiSupervisedTask  Kingma et al. 2014's M2 (models::SemiSupervisedVae) on images of which a few rows
//                    keep their labels: each step scores the loop's batch less its labelled rows with y
//                    summed out, and a batch of labelled rows (drawn with replacement) at their labels with
//                    the classification term; test figure the ELBO with y summed out, test error per epoch
#include <memory>

#include "models/autoencoder.h"
#include "models/seqvae.h"
#include "models/ssvae.h"
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

// M2's objective (Kingma et al. 2014, eq. 9), per training example: J = sum over unlabelled x of -U(x) + sum
// over labelled (x, y) of [-L(x, y) - alpha N log q(y | x) / N_l], over N = all training examples, each
// step's estimate (1 / B) sum over the batch's unlabelled rows of -U + (N_l / N) mean over a labelled batch
// of -L + alpha times its mean of -log q(y | x). alpha = 0.1 is the paper's (its 0.1 N, per example).
struct SsvaeObjective {
  double alpha = 0.1;
  int64_t labelled_batch = 100;  // labelled rows drawn (with replacement) for each step
};

// Kingma et al.'s M1 + M2: M2 on the latent features of a trained VAE (M1). Each example's q(z1 | x) comes
// from M1's encoder on the grayscale pixels (not binarized), kept as its mean and log-variance; the loop's
// batches draw z1 afresh from them (as the paper's code does) and the test set is its means. Only M1's
// dimensions whose mean varies over the training set are kept (std > min_std; the code's 0.1). images()
// maps features back to pixels through M1's decoder (the dropped dims at the prior's mean, 0).
// An elbo-vae MLP model (model.safetensors) with its hidden and latent sizes read from the file's tensors
// (fc1.weight [H, D], fc21.weight [L, H]) for images of height x width; an Error naming the file when it is
// not one.
std::unique_ptr<models::VAE> load_mlp_vae(const std::string& path, int64_t height, int64_t width);

class M1Features {
 public:
  M1Features(const models::VAE& m1, const training::ImageData& pixels, double min_std = 0.1);
  std::shared_ptr<const training::ImageData> data() const { return data_; }  // height 1, width = kept dims
  const std::vector<int64_t>& kept() const { return kept_; }
  Tensor images(const Tensor& features) const;  // [N, K] -> M1's decoder means [N, H * W]
  int64_t height() const { return height_; }
  int64_t width() const { return width_; }

 private:
  const models::VAE& m1_;
  std::vector<int64_t> kept_;
  Tensor kept_index_;
  int64_t height_, width_;
  std::shared_ptr<const training::ImageData> data_;
};

class SemiSupervisedTask : public Task {
 public:
  // labelled: the training rows that keep their labels (models::balanced_labelled_subset)
  SemiSupervisedTask(models::SemiSupervisedVae& m, const training::ImageData& data, std::vector<int64_t> labelled,
                     SsvaeObjective o, int iw = 0);
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "elbo"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;  // ELBO with y summed out: a bound on log p(x)
  void epoch_figures(std::map<std::string, double>& row) override;  // test_error
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;
  void summaries(Session& s, training::SummaryWriter& tb, int64_t step) override;
  double test_error() const;  // share of test images whose argmax q(y|x) is not their label
  // How the images finish() draws are made from the model's inputs (M1 + M2: M1's decoder), and their size;
  // by default the inputs are the images.
  void show_with(std::function<Tensor(const Tensor&)> to_images, int64_t height, int64_t width);

 private:
  models::SemiSupervisedVae& m_;
  const training::ImageData& data_;
  std::vector<int64_t> labelled_;
  std::vector<bool> is_labelled_;
  SsvaeObjective o_;
  int iw_;
  std::vector<int64_t> keep_, draw_;  // a step's unlabelled rows and labelled draws
  std::function<Tensor(const Tensor&)> to_images_;
  int64_t height_, width_;
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
