#pragma once
// The tape. An op that records appends a Node {name, inputs, backward} to the graph when recording is on
// (no NoGradGuard alive on this thread) and some input requires grad. Every node carries a sequence
// number in append order, so sorting the nodes reachable from the loss by descending sequence number is
// a topological order: backward needs no recursion and no DFS over closures. After backward the nodes
// drop their closures and inputs, so a training loop's memory stays flat; a second backward through
// them is an error. Backward runs with recording off; all gradients pass through accumulate_grad,
// which checks shape and dtype. With create_graph (autograd::grad) backward runs with recording on
// instead, so the gradients carry a graph of their own and can be differentiated again: the closures of
// the ops declared `repeatedly` in op_table.h (double_backward_ops()) are made of recorded ops, and see
// their saved outputs linked to their own node (detail::linked); any other op in the graph is an error
// naming it.
#include <concepts>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "allocator.h"
#include "op_table.h"
#include "tensor.h"

namespace elbo {

using Grads = detail::PooledVector<Tensor>;  // one entry per input; undefined = no gradient

// A node's backward closure: a move-only callable whose captures live in the small-object pool
// (allocator.h), where std::function would put them on the heap. The callable returns Grads (or a
// std::vector<Tensor>, converted).
class BackwardFn {
 public:
  BackwardFn() = default;
  template <class F>
    requires(!std::same_as<std::decay_t<F>, BackwardFn> &&
             (std::is_invocable_r_v<Grads, F&, const Tensor&> ||
              std::is_invocable_r_v<std::vector<Tensor>, F&, const Tensor&>))
  BackwardFn(F&& f) {  // NOLINT(google-explicit-constructor): ops pass lambdas
    using Fn = std::decay_t<F>;
    static_assert(alignof(Fn) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    void* mem = detail::small_allocate(sizeof(Fn));
    try {
      obj_ = ::new (mem) Fn(std::forward<F>(f));
    } catch (...) {
      detail::small_release(mem, sizeof(Fn));
      throw;
    }
    call_ = [](void* o, const Tensor& g) -> Grads {
      if constexpr (std::is_invocable_r_v<Grads, Fn&, const Tensor&>) {
        return (*static_cast<Fn*>(o))(g);
      } else {
        const std::vector<Tensor> r = (*static_cast<Fn*>(o))(g);
        return Grads(r.begin(), r.end());
      }
    };
    drop_ = [](void* o) noexcept {
      static_cast<Fn*>(o)->~Fn();
      detail::small_release(o, sizeof(Fn));
    };
  }
  BackwardFn(BackwardFn&& o) noexcept
      : obj_(std::exchange(o.obj_, nullptr)), call_(o.call_), drop_(o.drop_) {}
  BackwardFn& operator=(BackwardFn&& o) noexcept {
    BackwardFn taken(std::move(o));  // first take o, in case our closure owns it
    std::swap(obj_, taken.obj_), std::swap(call_, taken.call_), std::swap(drop_, taken.drop_);
    return *this;
  }
  BackwardFn& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  ~BackwardFn() { reset(); }

  explicit operator bool() const { return obj_ != nullptr; }
  Grads operator()(const Tensor& grad_output) const {
    ELBO_ASSERT(obj_ != nullptr);
    return call_(obj_, grad_output);
  }

 private:
  void reset() noexcept {
    if (obj_) drop_(std::exchange(obj_, nullptr));  // the closure may release tensors: detach first
  }
  void* obj_ = nullptr;
  Grads (*call_)(void*, const Tensor&) = nullptr;
  void (*drop_)(void*) noexcept = nullptr;
};

struct Edge {
  std::shared_ptr<Node> node;        // the input was produced by this node, or
  std::shared_ptr<TensorImpl> leaf;  // the input is a leaf that requires grad, or neither
  detail::PooledVector<int64_t> shape;  // the input's shape and dtype, checked on accumulation
  DType dtype = DType::f32;
};

struct Node {
  const char* name = "";
  Differentiable differentiable = Differentiable::once;
  uint64_t seq = 0;
  detail::PooledVector<Edge> inputs;
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

namespace detail {
// Told, on this thread, as backward passes run: when a leaf's gradient is complete for this pass (every
// node that feeds it has run) and after each node. Data-parallel training starts a gradient bucket's
// all-reduce as soon as its parameters are done, and keeps the transfers moving between nodes.
struct BackwardObserver {
  virtual ~BackwardObserver() = default;
  virtual void leaf_done(const TensorImpl* leaf) = 0;
  virtual void node_done() = 0;
};
void set_backward_observer(BackwardObserver* o);  // this thread's; nullptr for none
// True when `out` should get a node: recording is on and some input requires grad. Also runs anomaly
// mode's check of the forward output.
bool should_record(const char* name, const Tensor& out, std::span<const Tensor> inputs);
// An op's own output as its backward closure saved it (a handle with no graph, so the closure makes no
// cycle), as the running backward must use it: when the pass builds a graph of the gradients
// (create_graph), a handle on the same storage whose node is the op's own, so what the backward computes
// from it is differentiated through the op again, as torch's saved outputs are; otherwise `saved` itself.
Tensor linked(const Tensor& saved);
Tensor attach(const Op& op, const Tensor& out, std::span<const Tensor> inputs, BackwardFn backward);
}  // namespace detail

// Attaches `backward` to `out` if recording is on and some input requires grad; returns the tensor to
// hand to the user (a new handle sharing out's storage, so closures may capture `out` without a cycle).
// The type-erased closure is only made when the op records: under NoGradGuard the lambda (whose captures
// the call site has already evaluated) is not moved into the pool.
// `op` names the node and says whether its backward may be differentiated again (op_table.h).
template <class F> Tensor record(const Op& op, const Tensor& out, std::initializer_list<Tensor> inputs, F&& fn) {
  const std::span<const Tensor> in(inputs.begin(), inputs.size());
  if (!detail::should_record(op.name, out, in)) return out;
  return detail::attach(op, out, in, BackwardFn(std::forward<F>(fn)));
}
template <class F> Tensor record(const Op& op, const Tensor& out, const std::vector<Tensor>& inputs, F&& fn) {
  if (!detail::should_record(op.name, out, inputs)) return out;
  return detail::attach(op, out, inputs, BackwardFn(std::forward<F>(fn)));
}

// Runs reverse mode from `root` (one element) with d root = 1.
void run_backward(const Tensor& root, bool retain_graph = false);
// The general pass: gradients of roots (seeded with seeds, or ones) flow back; with captured set, the
// gradients reaching `targets` are returned there instead of accumulating on leaves' .grad.
// create_graph records the pass itself (and keeps the graph, as retain_graph).
void run_backward(std::span<const Tensor> roots, std::span<const Tensor> seeds, bool retain_graph,
                  std::span<const Tensor> targets, std::vector<Tensor>* captured, bool create_graph = false);

namespace autograd {
struct GradOptions {
  bool retain_graph = false;  // keep the graph for another backward or grad through it
  // differentiable gradients, for higher-order derivatives: the returned gradients have a graph back to
  // the inputs (implies retain_graph). Every op between outputs and inputs must be in double_backward_ops().
  bool create_graph = false;
  std::vector<Tensor> grad_outputs{};  // one per output, its shape; empty: each output must be one element
  bool allow_unused = false;  // an input the outputs do not depend on gets an undefined gradient
};
// d outputs / d inputs, as torch.autograd.grad: the gradients are returned and no .grad is touched.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options = {});
// The ops whose backward is itself differentiable (create_graph), by the names nodes carry: the rows of
// op_table.h declared `repeatedly`. Each has a gradgradcheck in tests/autograd/test_double_backward.cpp.
// Composites of them (mean, softmax, log_softmax, the losses, gelu, layer_norm, ...) follow.
std::span<const char* const> double_backward_ops();
}  // namespace autograd

}  // namespace elbo
