#pragma once
// The tape. An op that records appends a Node {name, inputs, backward} to the graph when recording is on
// (no NoGradGuard alive on this thread) and some input requires grad. Every node carries a sequence
// number in append order, so sorting the nodes reachable from the loss by descending sequence number is
// a topological order: backward needs no recursion and no DFS over closures. After backward the nodes
// drop their closures and inputs, so a training loop's memory stays flat; a second backward through
// them is an error. Backward runs with recording off; all gradients pass through accumulate_grad,
// which checks shape and dtype.
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "tensor.h"

namespace elbo {

using Grads = std::vector<Tensor>;  // one entry per input; undefined = no gradient
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

struct Edge {
  std::shared_ptr<Node> node;        // the input was produced by this node, or
  std::shared_ptr<TensorImpl> leaf;  // the input is a leaf that requires grad, or neither
  Shape shape;                       // the input's shape and dtype, checked on accumulation
  DType dtype = DType::f32;
};

struct Node {
  const char* name = "";
  uint64_t seq = 0;
  std::vector<Edge> inputs;
  BackwardFn backward;
  Tensor grad;  // the gradient flowing into this node's output, summed during backward
  bool released = false;
  uint64_t visit = 0;  // backward's traversal mark
  ~Node();      // iterative, so dropping a 100,000-node chain does not overflow the stack
};

// Is recording on for this thread?
bool grad_enabled();

// RAII: no tape recording on this thread while alive (restores the previous mode).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// RAII: recording on again inside a NoGradGuard (e.g. an inner optimization during evaluation).
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

// Anomaly mode (RAII, thread-local; or ELBO_ANOMALY=1 in the environment): every recorded op checks its
// output, and backward checks every gradient, for NaN or Inf, and throws an elbo::Error naming the first
// op that produced one and its shapes. Slow; for debugging a diverging model.
class AnomalyGuard {
 public:
  AnomalyGuard();
  ~AnomalyGuard();
  AnomalyGuard(const AnomalyGuard&) = delete;
  AnomalyGuard& operator=(const AnomalyGuard&) = delete;

 private:
  bool prev_;
};
bool anomaly_enabled();

// Attaches `backward` to `out` if recording is on and some input requires grad; returns the tensor to
// hand to the user (a new handle sharing out's storage, so closures may capture `out` without a cycle).
Tensor record(const char* name, const Tensor& out, std::initializer_list<Tensor> inputs, BackwardFn backward);
Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn backward);

// True when recording is on and at least one of the inputs requires grad.
bool needs_grad(std::initializer_list<Tensor> inputs);

// Runs reverse mode from `root` (one element) with d root = 1.
void run_backward(const Tensor& root);

}  // namespace elbo
