#include "autograd/tape.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

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

thread_local bool t_in_backward = false;
thread_local detail::BackwardObserver* t_observer = nullptr;  // backward's own ops are checked as backward, not forward
// The node whose backward is running on this thread while a pass builds a graph (create_graph), for
// detail::linked; null otherwise.
thread_local const std::shared_ptr<Node>* t_running = nullptr;
struct Running {
  const std::shared_ptr<Node>* prev = t_running;
  explicit Running(const std::shared_ptr<Node>* n) { t_running = n; }
  ~Running() { t_running = prev; }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
};

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
    n.backward = nullptr;  // first: a closure may hold its inputs (linked, for double backward) as the edges do
    for (Edge& e : n.inputs)
      if (e.node && e.node.use_count() == 1) stack.push_back(std::move(e.node));
    n.inputs.clear();
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

namespace {
// A new handle on t's storage whose gradient flows into `node`.
Tensor handle_of(const Tensor& t, std::shared_ptr<Node> node) {
  const TensorImpl& o = *t.impl();
  auto impl = new_impl();
  impl->storage = o.storage;
  impl->shape = o.shape;
  impl->numel = o.numel;
  impl->dtype = o.dtype;
  impl->requires_grad = true;
  impl->node = std::move(node);
  return Tensor(std::move(impl));
}
}  // namespace

Tensor linked(const Tensor& saved) {
  if (!t_running || !saved.defined()) return saved;
  return handle_of(saved, *t_running);
}

Tensor attach(const Op& op, const Tensor& out, std::span<const Tensor> inputs, BackwardFn fn) {
  auto node = std::allocate_shared<Node>(PoolAllocator<Node>{});
  node->name = op.name;
  node->differentiable = op.backward;
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
  return handle_of(out, std::move(node));
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

void detail::set_backward_observer(BackwardObserver* o) { t_observer = o; }

void run_backward(const Tensor& root, bool retain_graph) {
  ELBO_CHECK(root.defined(), "backward: called on an undefined tensor");
  ELBO_CHECK_SHAPE(root.numel() == 1,
                   "backward: the tensor has shape {} ({} elements); backward() starts from a one-element "
                   "tensor such as a loss (reduce it with sum() or mean() first)", root.shape(), root.numel());
  ELBO_CHECK(root.requires_grad(),
             "backward: the tensor does not require grad (no input of its graph has requires_grad set, or it "
             "was computed under NoGradGuard)");
  const Tensor roots[] = {root};
  run_backward(roots, {}, retain_graph, {}, nullptr);
}

void run_backward(std::span<const Tensor> roots, std::span<const Tensor> seeds0, bool retain_graph,
                  std::span<const Tensor> targets, std::vector<Tensor>* captured, bool create_graph) {
  std::optional<NoGradGuard> no_grad;
  std::optional<EnableGradGuard> recording;
  if (create_graph) recording.emplace(), retain_graph = true;
  else no_grad.emplace();
  struct InBackward {
    bool prev = t_in_backward;
    InBackward() { t_in_backward = true; }
    ~InBackward() { t_in_backward = prev; }
  } in_backward;
  // The gradient flowing into a tensor: captured for the targets (autograd::grad), else accumulated on
  // leaves' .grad (backward()).
  auto capture_slot = [&](const TensorImpl* t, const Node* producer) -> Tensor* {
    if (!captured) return nullptr;
    for (size_t i = 0; i < targets.size(); ++i) {
      const TensorImpl* ti = targets[i].impl();
      if ((producer && ti->node.get() == producer) || (!producer && ti == t)) return &(*captured)[i];
    }
    return nullptr;
  };
  auto to_leaf = [&](const std::shared_ptr<TensorImpl>& leaf, const Tensor& g) {
    if (captured) {
      if (Tensor* slot = capture_slot(leaf.get(), nullptr)) accumulate(*slot, g);
      return;
    }
    Tensor slot(leaf->grad);
    accumulate(slot, g);
    leaf->grad = slot.impl_ptr();
  };
  detail::PooledVector<Tensor> seeds;  // pooled: a training step's backward makes no heap allocation
  for (size_t i = 0; i < roots.size(); ++i) seeds.push_back(i < seeds0.size() ? seeds0[i] : ones(roots[i].shape(), roots[i].dtype()));
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
               "were freed; run the forward pass again, or keep it with retain_graph", n->name);
    if (n->visit == epoch) return;
    n->visit = epoch;
    order.push_back(n);
  };
  for (size_t i = 0; i < roots.size(); ++i) {
    TensorImpl* r = roots[i].impl();
    if (r->node) {
      visit(r->node);
      accumulate(r->node->grad, seeds[i]);
    } else {
      to_leaf(roots[i].impl_ptr(), seeds[i]);  // a leaf: d root / d root = 1
    }
  }
  for (size_t i = 0; i < order.size(); ++i)  // order doubles as the work list
    for (const Edge& e : order[i]->inputs)
      if (e.node) visit(e.node);
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a->seq > b->seq; });
  // With an observer: how many gradients each leaf still expects in this pass (few leaves: a flat list)
  detail::BackwardObserver* observer = in_backward.prev ? nullptr : t_observer;
  detail::PooledVector<std::pair<const TensorImpl*, int64_t>> pending;
  const auto pending_of = [&](const TensorImpl* leaf) -> int64_t* {
    for (auto& [l, k] : pending)
      if (l == leaf) return &k;
    return nullptr;
  };
  if (observer)
    for (const auto& n : order)
      for (const Edge& e : n->inputs)
        if (e.leaf) {
          if (int64_t* k = pending_of(e.leaf.get())) ++*k;
          else pending.emplace_back(e.leaf.get(), 1);
        }
  for (const auto& n : order) {
    Tensor g = std::move(n->grad);
    n->grad = Tensor();
    if (g.defined()) {
      if (Tensor* slot = capture_slot(nullptr, n.get())) accumulate(*slot, g);
      ELBO_CHECK(!create_graph || n->differentiable == Differentiable::repeatedly,
                 "autograd::grad (create_graph): the backward of '{}' is not differentiable yet; ops that allow "
                 "higher-order gradients are listed by autograd::double_backward_ops()", n->name);
      Grads grads;
      {
        const Running running(create_graph ? &n : nullptr);
        grads = n->backward(g);
      }
      ELBO_ASSERT(grads.size() == n->inputs.size());
      if (create_graph && g.requires_grad())  // a gradient is linear in g: without a graph, a kernel made it
        for (size_t i = 0; i < grads.size(); ++i)
          ELBO_CHECK(!grads[i].defined() || (!n->inputs[i].node && !n->inputs[i].leaf) || grads[i].requires_grad(),
                     "autograd::grad (create_graph): the backward of '{}' is declared differentiable (op_table.h) "
                     "but computed the gradient of input {} with an unrecorded kernel", n->name, i);
      for (size_t i = 0; i < grads.size(); ++i) {
        const Edge& e = n->inputs[i];
        if (!grads[i].defined() || (!e.node && !e.leaf)) continue;
        Tensor gi = checked(*n, i, e, grads[i]);
        if (t_anomaly) {
          const int64_t bad = first_nonfinite(gi);
          ELBO_CHECK(bad < 0, "anomaly: backward of '{}' produced a non-finite gradient at element {} for input {} {} "
                     "(incoming gradient {})", n->name, bad, i, gi.shape(), g.shape());
        }
        if (e.node) accumulate(e.node->grad, gi);
        else to_leaf(e.leaf, gi);
      }
    }
    if (observer) {
      for (const Edge& e : n->inputs)  // each of this node's leaves has one gradient fewer to wait for
        if (e.leaf)
          if (int64_t* k = pending_of(e.leaf.get()); k && --*k == 0) observer->leaf_done(e.leaf.get());
      observer->node_done();
    }
    if (!retain_graph) {
      n->backward = nullptr;
      n->released = true;
    }
  }
  // Free the graph now; `order` keeps every node alive until its edges are gone, so nothing recurses.
  if (!retain_graph)
    for (const auto& n : order) n->inputs.clear();
}

std::span<const Op> recorded_ops() {
#define ELBO_LIST_OP(id, name, d) op::id,
  static constexpr Op table[] = {ELBO_RECORDED_OPS(ELBO_LIST_OP)};
#undef ELBO_LIST_OP
  return table;
}

namespace autograd {

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, const GradOptions& o) {
  ELBO_CHECK(!outputs.empty(), "autograd::grad: no outputs given");
  ELBO_CHECK(o.grad_outputs.empty() || o.grad_outputs.size() == outputs.size(),
             "autograd::grad: {} grad_outputs for {} outputs", o.grad_outputs.size(), outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& y = outputs[i];
    ELBO_CHECK(y.defined() && y.requires_grad(), "autograd::grad: output {} does not require grad (none of its "
               "inputs does, or it was computed under NoGradGuard)", i);
    if (o.grad_outputs.empty())
      ELBO_CHECK_SHAPE(y.numel() == 1, "autograd::grad: output {} has shape {}; give grad_outputs for outputs that "
                       "are not one element", i, y.shape());
    else
      ELBO_CHECK_SHAPE(o.grad_outputs[i].shape() == y.shape(), "autograd::grad: grad_outputs {} has shape {}, output "
                       "{} has {}", i, o.grad_outputs[i].shape(), i, y.shape());
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    ELBO_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "autograd::grad: input {} does not require grad", i);
  std::vector<Tensor> g(inputs.size());
  run_backward(outputs, o.grad_outputs, o.retain_graph, inputs, &g, o.create_graph);
  for (size_t i = 0; i < inputs.size(); ++i)
    ELBO_CHECK(g[i].defined() || o.allow_unused, "autograd::grad: input {} {} is not used to compute the outputs "
               "(pass allow_unused = true to get an undefined gradient for it)", i, inputs[i].shape());
  return g;
}

std::span<const char* const> double_backward_ops() {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> v;
    for (const Op& op : recorded_ops())
      if (op.backward == Differentiable::repeatedly) v.push_back(op.name);
    return v;
  }();
  return names;
}

}  // namespace autograd

}  // namespace elbo
