#pragma once
// The zoo's semi-supervised VAE (elbo-ssvae): how Kingma et al. 2014's M2 trains, scores and reports under
// training::run, and M1 + M2's features.
//   SemiSupervisedTask  M2 (models::SemiSupervisedVae) on images of which a few rows keep their labels:
//                    each step scores the loop's batch less its labelled rows with y summed out, and a
//                    batch of labelled rows (drawn with replacement) at their labels with the
//                    classification term; test figure the ELBO with y summed out, test error per epoch
//   M1Features       M1 + M2's inputs: a trained VAE's latent features of the images
#include <functional>
#include <memory>

#include "models/ssvae.h"
#include "training/tasks.h"

namespace elbo::zoo {

using training::Session;
using training::Task;

// M2's objective (Kingma et al. 2014, eq. 9), per training example: J = sum over unlabelled x of -U(x) + sum
// over labelled (x, y) of [-L(x, y) - alpha N log q(y | x) / N_l], over N = all training examples, each
// step's estimate (1 / B) sum over the batch's unlabelled rows of -U + (N_l / N) mean over a labelled batch
// of -L + alpha times its mean of -log q(y | x). The paper's alpha = 0.1 N is alpha = 0.1 per example; on
// our schedule (Adam at 1e-3, 100 epochs) it let the classifier drift from 100 labels (test error 38% after
// 4 epochs, 55% after 32, as the ELBO kept improving), where alpha = 1 went down to 8% (bench/RESULTS.md).
struct SsvaeObjective {
  double alpha = 1.0;
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

}  // namespace elbo::zoo
