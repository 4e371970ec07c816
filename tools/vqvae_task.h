#pragma once
// The zoo's VQ-VAE (elbo-vqvae): how models::VqVae trains, scores and reports under training::run.
//   loss     per example -log p(x | z_q) plus the quantizer's squared errors summed over the code grid
//            (the paper's eq. 3: its loss() is a mean over the h w D elements, times h w D here)
//   score    the ELBO under a uniform prior over the codes, log p(x | z_q) - h w log K (the test figure)
//   epoch    the codebook's perplexity and the codes used over the epoch's training batches; TensorBoard
//            histograms of test codes and encoder outputs
//   finish   test log p(x | z_q), perplexity and codes used on the test set, codebook_usage.png,
//            reconstructions.png, and samples.png decoded from codes drawn uniformly (what the model
//            generates before a prior is learned over its codes)
#include "models/vqvae.h"
#include "training/tasks.h"

namespace elbo::zoo {

class VqVaeTask : public training::Task {
 public:
  explicit VqVaeTask(models::VqVae& m);
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "elbo"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) override;
  Tensor score(const Tensor& x, Generator& gen) override;
  void epoch_figures(std::map<std::string, double>& row) override;  // perplexity, codes_used
  // histograms of the first 500 test images' codes and of their encoder outputs z_e
  void summaries(training::Session& s, training::SummaryWriter& tb, int64_t step) override;
  void finish(training::Session& s, Generator& gen, std::map<std::string, double>& figures) override;
  // The EMA codebook moves with each rank's own batch: ranks would drift apart.
  bool data_parallel() const override { return m_.options().quantizer.ema_decay == 0; }

 private:
  models::VqVae& m_;
  std::vector<int64_t> epoch_counts_;  // code usage over the epoch's training batches
};

// How often each code is chosen over x [N, D] (in batches of 500): [K]
std::vector<int64_t> code_usage(const models::VqVae& m, const Tensor& x);
// exp of the entropy of the usage's frequencies
double perplexity(const std::vector<int64_t>& usage);

}  // namespace elbo::zoo
