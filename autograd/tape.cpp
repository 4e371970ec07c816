#include "autograd/tape.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <string>

#include "autograd/ops.h"

namespace elbo {
namespace {
thread_local bool t_grad_enabled = true;
std::atomic<uint64_t> g_seq{0};

// Adds g into slot (out of place: slots may alias gradients other nodes still hold).
void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) slot = g;
  else slot = slot + g;
}
}  // namespace

bool grad_enabled() { return t_grad_enabled; }

namespace {
thread_local bool t_anomaly = [] {
  const char* e = std::getenv("ELBO_ANOMALY");
  return e && std::string(e) == "1";
}();

// The index of the first NaN or Inf, or -1.
int64_t first_nonfinite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return -1;
  return with_float(t.dtype(), "anomaly", [&](auto z) -> int64_t {
    using T = decltype(z);
    const T* p = t.data<const T>();
    for (int64_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(p[i])) return i;
    return -1;
  });
}

template <class Inputs> std::string shapes_of(const Inputs& inputs) {
  std::string s;
  for (const Tensor& t : inputs) s += (s.empty() ? "" : ", ") + (t.defined() ? fmt::format("{}", t.shape()) : "none");
  return s;
}
}  // namespace

thread_local bool t_in_backward = false;  // backward's own ops are checked as backward, not forward

AnomalyGuard::AnomalyGuard() : prev_(t_anomaly) { t_anomaly = true; }
AnomalyGuard::~AnomalyGuard() { t_anomaly = prev_; }
bool anomaly_enabled() { return t_anomaly; }
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = prev_; }
EnableGradGuard::EnableGradGuard() : prev_(t_grad_enabled) { t_grad_enabled = true; }
EnableGradGuard::~EnableGradGuard() { t_grad_enabled = prev_; }

Node::~Node() {
  // Steal the inputs this node alone keeps alive and free them from a loop, not recursively. The stack is
  // pooled: freeing a step's graph, whatever its shape, does not reach the heap.
  detail::PooledVector<std::shared_ptr<Node>> stack;
  auto steal = [&](Node& n) {
    for (Edge& e : n.inputs)
      if (e.node && e.node.use_count() == 1) stack.push_back(std::move(e.node));
    n.inputs.clear();
    n.backward = nullptr;
  };
  steal(*this);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    steal(*n);
  }
}

namespace detail {
bool should_record(const char* name, const Tensor& out, std::span<const Tensor> inputs) {
  if (t_anomaly && !t_in_backward) {
    const int64_t bad = first_nonfinite(out);
    ELBO_CHECK(bad < 0, "anomaly: forward of '{}' produced {} at element {} of its output {} (inputs: {})", name,
               with_float(out.dtype(), name, [&](auto z) { return double(out.data<const decltype(z)>()[bad]); }), bad,
               out.shape(), shapes_of(inputs));
  }
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor attach(const char* name, const Tensor& out, std::span<const Tensor> inputs, BackwardFn fn) {
  auto node = std::allocate_shared<Node>(PoolAllocator<Node>{});
  node->name = name;
  node->seq = g_seq.fetch_add(1, std::memory_order_relaxed);
  node->inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t.defined() || !t.requires_grad()) continue;
    Edge& e = node->inputs[i];
    TensorImpl* p = t.impl();
    if (p->node) e.node = p->node;
    else e.leaf = t.impl_ptr();
    e.shape.assign(p->shape.begin(), p->shape.end());
    e.dtype = p->dtype;
  }
  node->backward = std::move(fn);
  const TensorImpl& o = *out.impl();
  auto impl = new_impl();
  impl->storage = o.storage;
  impl->shape = o.shape;
  impl->numel = o.numel;
  impl->dtype = o.dtype;
  impl->requires_grad = true;
  impl->node = std::move(node);
  return Tensor(std::move(impl));
}
}  // namespace detail

namespace {
// All gradients pass through here: shape and dtype must match what the input had in forward.
Tensor checked(const Node& n, size_t i, const Edge& e, const Tensor& g) {
  ELBO_CHECK_SHAPE(IntList(g.shape()) == IntList(e.shape),
                   "backward of '{}': gradient for input {} has shape {}, the input had {} (internal op bug)", n.name,
                   i, g.shape(), e.shape);
  return g.dtype() == e.dtype ? g : g.to(e.dtype);
}
}  // namespace

void run_backward(const Tensor& root) {
  ELBO_CHECK(root.defined(), "backward: called on an undefined tensor");
  ELBO_CHECK_SHAPE(root.numel() == 1,
                   "backward: the tensor has shape {} ({} elements); backward() starts from a one-element "
                   "tensor such as a loss (reduce it with sum() or mean() first)", root.shape(), root.numel());
  ELBO_CHECK(root.requires_grad(),
             "backward: the tensor does not require grad (no input of its graph has requires_grad set, or it "
             "was computed under NoGradGuard)");
  NoGradGuard no_grad;
  struct InBackward {
    bool prev = t_in_backward;
    InBackward() { t_in_backward = true; }
    ~InBackward() { t_in_backward = prev; }
  } in_backward;
  const Tensor seed = ones(root.shape(), root.dtype());
  TensorImpl* r = root.impl();
  if (!r->node) {  // a leaf: d root / d root = 1
    Tensor slot(r->grad);
    accumulate(slot, seed);
    r->grad = slot.impl_ptr();
    return;
  }
  // Collect the reachable nodes (iteratively), then process them in reverse append order.
  static std::atomic<uint64_t> epochs{0};
  const uint64_t epoch = ++epochs;
  // The list is kept per thread so a training step's backward allocates nothing; a backward started
  // inside another (from a backward closure) gets its own.
  thread_local std::vector<std::shared_ptr<Node>> t_order;
  std::vector<std::shared_ptr<Node>> nested_order;
  std::vector<std::shared_ptr<Node>>& order = in_backward.prev ? nested_order : t_order;
  struct Drop {
    std::vector<std::shared_ptr<Node>>& v;
    ~Drop() { v.clear(); }  // also on an exception: the nodes are freed with their last handle
  } drop{order};
  order.clear();
  auto visit = [&](const std::shared_ptr<Node>& n) {
    ELBO_CHECK(!n->released,
               "backward: the graph through '{}' was already used by an earlier backward() and its buffers "
               "were freed; run the forward pass again for each backward", n->name);
    if (n->visit == epoch) return;
    n->visit = epoch;
    order.push_back(n);
  };
  visit(r->node);
  for (size_t i = 0; i < order.size(); ++i)  // order doubles as the work list
    for (const Edge& e : order[i]->inputs)
      if (e.node) visit(e.node);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a->seq > b->seq; });
  r->node->grad = seed;
  for (const auto& n : order) {
    Tensor g = std::move(n->grad);
    n->grad = Tensor();
    if (g.defined()) {
      Grads grads = n->backward(g);
      ELBO_ASSERT(grads.size() == n->inputs.size());
      for (size_t i = 0; i < grads.size(); ++i) {
        const Edge& e = n->inputs[i];
        if (!grads[i].defined() || (!e.node && !e.leaf)) continue;
        Tensor gi = checked(*n, i, e, grads[i]);
        if (t_anomaly) {
          const int64_t bad = first_nonfinite(gi);
          ELBO_CHECK(bad < 0, "anomaly: backward of '{}' produced a non-finite gradient at element {} for input {} {} "
                     "(incoming gradient {})", n->name, bad, i, gi.shape(), g.shape());
        }
        if (e.node) {
          accumulate(e.node->grad, gi);
        } else {
          Tensor slot(e.leaf->grad);
          accumulate(slot, gi);
          e.leaf->grad = slot.impl_ptr();
        }
      }
    }
    n->backward = nullptr;
    n->released = true;
  }
  // Free the graph now; `order` keeps every node alive until its edges are gone, so nothing recurses.
  for (const auto& n : order) n->inputs.clear();
}

}  // namespace elbo
