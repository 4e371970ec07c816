#pragma once
// The training loop itself, knowing no model, no data format and no file: epochs of shuffled minibatch
// steps drawn from a BatchSource, the task's loss, the optimizer's step, the test figure after each epoch,
// and callbacks told of every step and every epoch. run() (trainer.h) attaches the zoo's callbacks:
// metrics.jsonl, TensorBoard, checkpoints; a user's own loop can attach others.
//
// Data-parallel (comm of more than one rank, with a reducer): --batch is the global batch; each rank takes
// its share of every global batch (rows [lo + len r / N, lo + len (r + 1) / N) of its len rows), the
// gradients are summed before each step, and rank 0 alone computes the test figure and tells on_epoch. In
// a job of N > 1 ranks the minibatch order of epoch e comes from a generator seeded by (seed, e), the same
// on every rank, and rank r's sampling from one seeded by (seed, e, r); one process keeps its single
// generator for both.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "../nn/nn.h"
#include "../parallel/communicator.h"
#include "schedule.h"

namespace elbo::parallel {
class GradientReducer;
}

namespace elbo::training {

class Task;

// Where the training examples come from. The loop draws a permutation of [0, size()) each epoch and asks
// for the input of consecutive slices of it.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  virtual int64_t size() const = 0;
  // The task's input for the rows order[lo, hi) (lo < hi), made with gen's randomness (binarization, say);
  // undefined for a source whose task makes its batch from the row ids itself.
  virtual Tensor batch(std::span<const int64_t> order, int64_t lo, int64_t hi, Generator& gen) const = 0;
};

struct StepEnd {
  int epoch;                // 0-based
  int64_t step;             // the global step, counted from 1 over the whole run
  int64_t batch, batches;   // this step's index in the epoch, and the epoch's steps
  double loss;              // the global batch's mean loss
};

struct EpochEnd {
  int epoch;  // 0-based
  int64_t step;
  double lr, train, test;   // train: the epoch's mean training figure (-loss); test: the test figure
  double seconds;           // of training (the test figure not counted)
  int64_t examples;
};

// The end of a run (training::run, trainer.h), once the task has added its figures and images.
struct RunEnd {
  const std::map<std::string, double>& figures;  // the final figures, as the run's last line prints them
  std::span<const double> train, test;           // the figures of the epochs this run trained
  int first_epoch;                               // 0-based index of train[0] (a resumed run's start)
  int64_t step;                                  // the global step reached
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_step(const StepEnd&) {}    // on every rank, after the optimizer step
  virtual void on_epoch(const EpochEnd&) {}  // on rank 0, after the epoch's test figure
  virtual void on_end(const RunEnd&) {}      // on rank 0, by training::run (train_loop does not end runs)
};

struct LoopOptions {
  int start_epoch = 0;  // the epochs already done (a resumed run)
  int epochs = 1;       // the last epoch, exclusive
  int64_t batch = 128;  // the global batch
  double clip = 0;      // > 0: gradients clipped to this global 2-norm before each step
  Schedule schedule{};  // defined: sets each epoch's learning rate
  uint64_t seed = 1;    // of a data-parallel job's streams
  bool quiet = false;   // no progress bar
  std::string checkpoint{};  // named in the error of a diverging run, as the last good state
};

struct LoopResult {
  std::vector<double> train, test;  // per epoch run, on rank 0
  double seconds = 0;               // of training
  int64_t examples = 0;             // trained on, over all epochs run
  int64_t step = 0;                 // the global step reached
};

// Runs epochs [start_epoch, epochs). test_figure is called on rank 0 after each epoch. A non-finite loss,
// or a distribution leaving its support (ValueError), stops the run with a CollectiveError naming the epoch,
// the step and o.checkpoint.
LoopResult train_loop(Task& t, const BatchSource& data, optim::Optimizer& opt, Generator& gen, const LoopOptions& o,
                      const std::function<double()>& test_figure, std::span<Callback* const> callbacks,
                      parallel::Communicator& comm, parallel::GradientReducer* reducer = nullptr);

}  // namespace elbo::training
