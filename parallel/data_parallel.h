#pragma once
// Data-parallel training on a Communicator, as PyTorch's DistributedDataParallel does it: every rank holds
// the whole model; rank 0's parameters (and, on --resume, optimizer state) reach every rank at the start;
// each rank computes the gradient of its shard of every global batch; the gradients are summed across
// the ranks in buckets (flattened, one non-blocking all-reduce per bucket, all in flight at once); every
// rank then steps the same optimizer on the same gradient, so the parameters stay bitwise identical.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../nn/module.h"
#include "../autograd/tape.h"
#include "../nn/optim.h"
#include "communicator.h"

namespace elbo::parallel {

class GradientReducer : public detail::BackwardObserver {
 public:
  // bucket_bytes: the size of one flattened all-reduce (25 MiB by default, as PyTorch's DDP).
  GradientReducer(Communicator& comm, std::vector<Tensor> params, size_t bucket_bytes = size_t(25) << 20);
  // Replaces every parameter's gradient by its sum over the ranks (a gradient undefined on one rank counts
  // as zeros there; one undefined on every rank stays undefined), and sums `extra` (a loss, say) along.
  void all_reduce(std::span<double> extra = {});
  // Optional, right before backward(): each bucket's all-reduce then starts during the backward pass as
  // soon as all its gradients are complete (buckets in one order on every rank, as MPI requires), and the
  // transfers are moved along between the pass's nodes; all_reduce() launches the rest and finishes.
  void begin_backward();
  ~GradientReducer() override;
  // time spent on the all-reduce so far: copies, starting and polling transfers during the backward
  // pass (begin_backward), and all_reduce()
  double seconds() const { return seconds_; }
  int64_t calls() const { return calls_; }
  int64_t buckets() const { return int64_t(buckets_.size()); }

 private:
  struct Slot {
    size_t param, offset;  // the parameter and its first element in the bucket
  };
  struct Bucket {
    Tensor flat;  // f32 or f64, the parameters' dtype
    std::vector<Slot> slots;
  };
  void leaf_done(const TensorImpl* leaf) override;
  void node_done() override;
  void launch(size_t bucket);  // copy its gradients in and start its all-reduce
  std::vector<std::pair<const TensorImpl*, size_t>> index_;  // parameter impl -> its index, sorted
  std::vector<size_t> bucket_of_;     // per parameter
  std::vector<int64_t> remaining_;    // per bucket: parameters not yet done in this pass
  size_t next_ = 0;                   // the next bucket to launch
  bool observing_ = false;
  std::vector<Pending> inflight_;
  Communicator& comm_;
  std::vector<Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<double> scalars_;  // per parameter: 1 if its gradient is defined here; then the extras
  double seconds_ = 0;
  int64_t calls_ = 0;
};

// root's values of every tensor, in place, on every rank (shapes and dtypes must agree).
void broadcast_tensors(Communicator& comm, std::span<const Tensor> tensors, int root = 0);
// A module's parameters and buffers from root.
void broadcast_module(Communicator& comm, const nn::Module& m, int root = 0);
// root's optimizer state (its state_dict: names, dtypes and shapes too) loaded on every other rank.
void broadcast_optimizer(Communicator& comm, optim::Optimizer& opt, int root = 0);

// FNV-1a of some bytes: a fingerprint to compare across ranks.
uint64_t fingerprint(std::string_view bytes, uint64_t h = 1469598103934665603ull);
// Throws an Error on every rank unless every rank passed the same value: "<what> differs between ranks
// (rank r differs from rank 0)".
void check_same(Communicator& comm, uint64_t value, const std::string& what);

}  // namespace elbo::parallel
