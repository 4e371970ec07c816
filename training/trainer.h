#pragma once
// The training and evaluation loop every zoo model shares, as a library: data and minibatches, Adam, a
// test figure per epoch in OUT/metrics.jsonl, atomic checkpoints (checkpoint.h) for a bitwise --resume,
// a diverging run stopped with the last good checkpoint kept, the images and the final JSON line.
// A Task adapts one model to it (tasks.h: any VAE; the zoo's others are beside the tools). Every
// training run also writes OUT/events.out.tfevents.* (TensorBoard: the loss per step, the figures per
// epoch, the images at the end; a resumed run continues the file) and OUT/README.md, a summary of the run
// with its images, readable on any code host.
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../models/dataset.h"
#include "../nn/nn.h"
#include "../parallel/communicator.h"
#include "data.h"
#include "loop.h"
#include "tensorboard.h"

namespace elbo::training {

// A run's settings: the training and output flags the zoo's binaries share (tools/zoo.cpp,
// add_common_flags), as a struct; the model's sizes are the zoo's (zoo::Config), not training's.
struct Options {
  std::string data = "data/mnist";  // MNIST-style IDX files
  int epochs = 10;
  int batch = 128;
  double lr = 1e-3;
  uint64_t seed = 1;
  int threads = 0;  // 0: ELBO_NUM_THREADS or all hardware threads
  std::string binarize = "dynamic";
  std::string out = "runs/default";
  std::string save{}, load{};  // save: default OUT/model.safetensors
  bool eval_only = false;
  int iw = 0;  // importance-sampled test log-likelihood with K samples
  bool resume = false;
  int64_t limit = 0;  // only the first N train / test examples (0: all)
  bool quiet = false;
  double clip = 0;  // > 0: gradients clipped to this global 2-norm before each step
  std::string schedule{};    // a learning-rate schedule (schedule.h), which then sets the epochs and rates
  double adam_beta1 = 0.9;   // Adam's betas and eps (torch's defaults)
  double adam_beta2 = 0.999;
  double adam_eps = 1e-8;
  std::string command{};  // the command line, for OUT/README.md (set by the zoo binaries)
  // Subnormal floats flushed to zero for the whole run (elbo::set_flush_denormal): what the zoo does,
  // since a classifier or an IWAE that grows confident can slow every step several-fold with them.
  bool flush_denormal = true;
};

// A run's data (data.h), its place in the job and its output directory.
//
// Under mpirun (a build with MPI) the session is one rank of a data-parallel job: every rank loads the
// same data; --batch is the global batch, which the world size must divide; the loop (loop.h) gives each
// rank its share of every global batch and sums the gradients across ranks before each step
// (parallel/data_parallel.h). Rank 0 alone evaluates and writes metrics, images, checkpoints and the
// final line. The loop's random streams (loop.h) make a --resume at an epoch boundary continue bitwise.
struct Session {
  using Loader = std::function<std::shared_ptr<const RunData>(const Options&)>;
  // Sets the threads and the denormal mode, checks the batch against the job's ranks, then loads the data with `load`
  // (default: o.data's IDX images) and creates OUT.
  explicit Session(const Options& o, const Loader& load = load_images);
  Options opt;
  std::shared_ptr<parallel::Communicator> comm;  // this process's place in the job (one rank when alone)
  std::shared_ptr<const RunData> data;
  bool root() const { return comm->rank() == 0; }
  int64_t train_size() const { return data->train_batches().size(); }
  int64_t test_size() const { return data->test_size(); }
  // The data as images, for the tasks that train on them; an Error naming the data when it is not.
  const ImageData& images() const;
  std::string data_name;  // the --data directory's name (e.g. "mnist"), for reports
  std::string checkpoint_path() const;  // OUT/checkpoint.safetensors
  std::string path(const std::string& file) const;  // OUT/file
};

class Task {
 public:
  virtual ~Task() = default;
  virtual nn::Module& module() = 0;
  virtual std::string describe() const = 0;
  virtual const char* figure() const = 0;  // the per-example test figure's name, e.g. "elbo"
  // Mean loss over the batch (nats per example) at optimizer step `step`; ids are the batch's row numbers.
  // Gradients that loss() itself leaves on the module's parameters are cleared before the step's backward.
  virtual Tensor loss(const Tensor& x, const std::vector<int64_t>& ids, Generator& gen, int64_t step) = 0;
  virtual void after_step() {}  // after the optimizer step (per-example parameters update here)
  // Tensors besides the module's that a checkpoint keeps, and their restore (`file` names it in errors).
  virtual nn::NamedTensors state() const { return {}; }
  virtual void load_state(const std::map<std::string, Tensor>&, const std::string& /*file*/) {}
  // The per-example test figure [B] (higher is better) of a batch as the data makes it, no gradient.
  virtual Tensor score(const Tensor& x, Generator& gen) = 0;
  // The same for rows [first, first + B) of the test set: a task that reads per-example data beside x
  // (labels, say) overrides this one; ImageData's test figure calls it.
  virtual Tensor score_test(const Tensor& x, int64_t /*first*/, Generator& gen) { return score(x, gen); }
  // Figures besides the test figure after each epoch (a classifier's test error, say), on rank 0: into
  // metrics.jsonl and the console's epoch line.
  virtual void epoch_figures(std::map<std::string, double>& /*row*/) {}
  // Images and extra figures once training is done.
  virtual void finish(Session& s, Generator& gen, std::map<std::string, double>& figures) = 0;
  // False for a task whose state is per example and lives in one process (non-amortized VI).
  virtual bool data_parallel() const { return true; }
  // Extra TensorBoard summaries after each epoch (histograms of the latents, say); step is the global step.
  virtual void summaries(Session&, SummaryWriter&, int64_t /*step*/) {}
};

// Trains (unless eval_only), evaluates and reports; returns the final figures (also the last line on
// standard output). What a run writes are callbacks on the loop (loop.h): TensorBoard, metrics.jsonl and
// the console, the checkpoint, then at the end the training curve and OUT/README.md; `extra` are the
// caller's own, told of every step, epoch and the end after those.
std::map<std::string, double> run(Session& s, Task& t, std::span<Callback* const> extra = {});

// The mean of t.score over x in batches of `batch`, no gradient.
double evaluate(Task& t, const Tensor& x, int64_t batch, Generator& gen);
// The mean test figure of the session's test set, no gradient.
double evaluate_test(const Session& s, Task& t, Generator& gen);

}  // namespace elbo::training
