#pragma once
// The VAE's task: how any model with an encoder trains, scores and reports under training::run, on
// images (Session::images). The zoo's other tasks (autoencoder, sequence VAE, non-amortized VI) are
// beside its binaries, in tools/tasks.h.
//   VaeTask  any model with an encoder (the zoo's VAE or a user's: an nn::Module that is a
//            models::AmortizedModel) on the objective's loss; test ELBO; samples and reconstructions (the
//            means of p(x|z)), the latent manifold (2-D latents), active units, KL per dim (per stochastic
//            layer for a hierarchy), and --iw's log-likelihood
//   ConditionalVaeTask  a model of images given their labels (models::ConditionalModel, e.g. the VAE with
//            VaeOptions::condition, elbo-vae --condition label): each batch scored at its own labels
//            (models::given); test ELBO and --iw's log-likelihood of log p(x | y); samples.png one row
//            per class; reconstructions; analogies.png (each test digit's z drawn as every class)
#include <functional>

#include "../models/conditional.h"
#include "../models/estimators.h"
#include "../models/likelihood.h"
#include "../models/model.h"
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

// The classes of labelled images: 1 + the largest training label. An Error naming the data when it has no
// labels (in either split) or when a test label is not one of those classes.
int64_t label_classes(const ImageData& d, const std::string& name);

class ConditionalVaeTask : public Task {
 public:
  template <class M>
    requires std::derived_from<M, nn::Module> && std::derived_from<M, models::ConditionalModel>
  ConditionalVaeTask(M& m, const ImageData& data, models::Objective obj, int iw = 0, std::string description = "")
      : module_(m), m_(m), train_labels_(data.train.labels), test_labels_(data.test.labels), obj_(obj), iw_(iw),
        description_(std::move(description)) {
    if (description_.empty()) {
      if constexpr (requires { m.describe(); }) description_ = m.describe();
      else description_ = m.type_name();
    }
    check();
  }
  nn::Module& module() override { return module_; }
  std::string describe() const override { return description_; }
  const char* figure() const override { return "elbo"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;  // an Error: the figure needs the rows' labels
  Tensor score_test(const Tensor& x, int64_t first, Generator& gen) override;
  void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) override;
  void summaries(Session& s, SummaryWriter& tb, int64_t step) override;

 private:
  void check() const;  // the labels against the model's classes
  nn::Module& module_;
  const models::ConditionalModel& m_;
  Tensor train_labels_, test_labels_;
  models::Objective obj_;
  int iw_;
  std::string description_;
};

// Writes OUT/samples.png (64 images) and OUT/reconstructions.png (32 test images spread over the test set,
// above their reconstructions).
void save_image_reports(Session& s, const Tensor& samples, const std::function<Tensor(const Tensor&)>& reconstruct);

}  // namespace elbo::training
