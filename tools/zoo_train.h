#pragma once
// The training and evaluation loop every zoo binary shares: data, minibatches, Adam, per-epoch test
// figures in OUT/metrics.jsonl, atomic checkpoints (model + optimizer + RNG + epoch) for --resume,
// images, and the final JSON line. A Runner adapts one model (VAE, autoencoder, per-sample VI).
#include <map>
#include <vector>
#include <string>
#include <utility>

#include "models/dataset.h"
#include "models/vae.h"
#include "zoo.h"

namespace elbo::zoo {

struct Session {
  explicit Session(const Config& c);
  Config cfg;
  models::Dataset train, test;
  models::Binarize binarize;
  Tensor test_x;  // the test set as scored: binarized once with a fixed seed (dynamic) or as configured
  std::string data_name;  // e.g. "mnist" (the --data directory's name) for labels in reports
  std::string checkpoint_path() const;  // OUT/checkpoint.safetensors
};

class Runner {
 public:
  virtual ~Runner() = default;
  virtual nn::Module& module() = 0;
  virtual std::string describe() const = 0;
  virtual const char* figure() const = 0;  // name of the per-example test figure, e.g. "elbo"
  // Mean loss over the batch (nats per example) at optimizer step `step`; ids are the batch's row numbers.
  // Gradients that loss() itself leaves on the module's parameters are cleared before the step's backward.
  virtual Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) = 0;
  // Called after the optimizer step (per-example parameters update here).
  virtual void after_step() {}
  // Tensors besides the module's that a checkpoint keeps (per-example parameters), and their restore;
  // `file` names the checkpoint in errors.
  virtual std::vector<std::pair<std::string, Tensor>> extra_state() const { return {}; }
  virtual void load_extra_state(const std::map<std::string, Tensor>&, const std::string& /*file*/) {}
  // The per-example test figure [B] (higher is better), no gradient.
  virtual Tensor score(const Tensor& x, Generator& gen) = 0;
  // Images and extra figures after training (written into `out`).
  virtual void finish(Session& s, Generator& gen, std::map<std::string, double>& out) = 0;
};

// The model flags of every binary whose model is built from VaeOptions: --arch and --likelihood here;
// binaries that expose the likelihood's settings (--levels, ...) bind them to `likelihood`'s fields.
struct ModelFlags {
  std::string name = "bernoulli";  // --likelihood
  models::Likelihood likelihood;   // its settings; the kind comes from `name`
  // Adds --arch (into c.arch) and --likelihood; returns the latter, for a binary to extend its help.
  CLI::Option* add(CLI::App& app, Config& c);
  // The options for the flags, sized to the session's images.
  models::VaeOptions options(const Config& c, const Session& s) const;
};

// Trains (unless --eval-only), evaluates and reports; returns the process exit code.
int run(Session& s, Runner& r);

class VaeRunner : public Runner {
 public:
  VaeRunner(models::VAE& m, models::TrainObjective obj) : m_(m), obj_(obj) {}
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "elbo"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>&, Generator& gen, int64_t step) override {
    return m_.loss(x, gen, obj_, step);
  }
  Tensor score(const Tensor& x, Generator& gen) override;
  void finish(Session& s, Generator& gen, std::map<std::string, double>& out) override;

 private:
  models::VAE& m_;
  models::TrainObjective obj_;
};

// Mean of score over the data in batches of `batch`, no gradient.
double evaluate(Runner& r, const Tensor& x, int64_t batch, Generator& gen);

}  // namespace elbo::zoo
