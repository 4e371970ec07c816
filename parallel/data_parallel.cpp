#include "parallel/data_parallel.h"

#include <chrono>
#include <algorithm>
#include <cstring>

#include "autograd/ops.h"

namespace elbo::parallel {

GradientReducer::GradientReducer(Communicator& comm, std::vector<Tensor> params, size_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  // Parameters in reverse order (the last layers' gradients are ready first in a backward pass), one
  // dtype per bucket.
  std::vector<size_t> sizes;
  for (size_t k = params_.size(); k-- > 0;) {
    const Tensor& p = params_[k];
    ELBO_CHECK(p.dtype() != DType::i64, "GradientReducer: parameter {} is i64", k);
    const size_t bytes = size_t(p.numel()) * (p.dtype() == DType::f64 ? 8 : 4);
    if (buckets_.empty() || buckets_.back().flat.dtype() != p.dtype() ||
        (sizes.back() > 0 && sizes.back() + bytes > bucket_bytes)) {
      buckets_.push_back({Tensor(), {}});
      buckets_.back().flat = empty({0}, p.dtype());
      sizes.push_back(0);
    }
    Bucket& b = buckets_.back();
    b.slots.push_back({k, sizes.back() / (p.dtype() == DType::f64 ? 8 : 4)});
    sizes.back() += bytes;
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const DType d = buckets_[i].flat.dtype();
    buckets_[i].flat = zeros({int64_t(sizes[i] / (d == DType::f64 ? 8 : 4))}, d);
  }
  scalars_.resize(params_.size());
  bucket_of_.resize(params_.size());
  for (size_t b = 0; b < buckets_.size(); ++b)
    for (const Slot& s : buckets_[b].slots) bucket_of_[s.param] = b;
  for (size_t k = 0; k < params_.size(); ++k) index_.emplace_back(params_[k].impl(), k);
  std::sort(index_.begin(), index_.end());
  remaining_.resize(buckets_.size());
  inflight_.reserve(buckets_.size() + 1);
}

GradientReducer::~GradientReducer() {
  if (observing_) detail::set_backward_observer(nullptr);
}

void GradientReducer::begin_backward() {
  for (size_t b = 0; b < buckets_.size(); ++b) remaining_[b] = int64_t(buckets_[b].slots.size());
  next_ = 0;
  observing_ = true;
  detail::set_backward_observer(this);
}

void GradientReducer::leaf_done(const TensorImpl* leaf) {
  const auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(leaf, size_t(0)));
  if (it == index_.end() || it->first != leaf) return;  // not one of ours
  --remaining_[bucket_of_[it->second]];
  if (next_ < buckets_.size() && remaining_[next_] == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    while (next_ < buckets_.size() && remaining_[next_] == 0) launch(next_++);
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

void GradientReducer::node_done() {
  if (inflight_.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  for (Pending& p : inflight_) p.poll();  // MPI moves non-blocking collectives only inside MPI calls
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void GradientReducer::launch(size_t bi) {
  Bucket& b = buckets_[bi];
  const size_t es = b.flat.dtype() == DType::f64 ? 8 : 4;
  char* flat = static_cast<char*>(b.flat.raw());
  for (const Slot& s : b.slots) {
    const Tensor& p = params_[s.param];
    const Tensor g = p.grad();
    const size_t bytes = size_t(p.numel()) * es;
    if (g.defined()) std::memcpy(flat + s.offset * es, g.raw(), bytes);
    else std::memset(flat + s.offset * es, 0, bytes);
  }
  if (b.flat.dtype() == DType::f64)
    inflight_.push_back(comm_.iall_reduce(std::span<double>(b.flat.data<double>(), size_t(b.flat.numel())), Reduce::sum));
  else
    inflight_.push_back(comm_.iall_reduce(std::span<float>(b.flat.data<float>(), size_t(b.flat.numel())), Reduce::sum));
}

void GradientReducer::all_reduce(std::span<double> extra) {
  const auto t0 = std::chrono::steady_clock::now();
  if (observing_) detail::set_backward_observer(nullptr), observing_ = false;
  else next_ = 0;  // no begin_backward: nothing was launched yet
  scalars_.resize(params_.size() + extra.size());
  for (size_t k = 0; k < params_.size(); ++k) scalars_[k] = params_[k].grad().defined() ? 1 : 0;
  std::copy(extra.begin(), extra.end(), scalars_.begin() + long(params_.size()));
  while (next_ < buckets_.size()) launch(next_++);
  inflight_.push_back(comm_.iall_reduce(std::span<double>(scalars_), Reduce::sum));
  for (Pending& p : inflight_) p.wait();
  inflight_.clear();
  for (Bucket& b : buckets_) {
    const size_t es = b.flat.dtype() == DType::f64 ? 8 : 4;
    const char* flat = static_cast<const char*>(b.flat.raw());
    for (const Slot& s : b.slots) {
      const Tensor& p = params_[s.param];
      if (scalars_[s.param] == 0) continue;  // no rank has a gradient for it
      Tensor g = p.grad();
      if (!g.defined()) {
        g = empty(p.shape(), p.dtype());
        p.set_grad(g);
      }
      std::memcpy(g.raw(), flat + s.offset * es, size_t(p.numel()) * es);
    }
  }
  std::copy(scalars_.begin() + long(params_.size()), scalars_.end(), extra.begin());
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++calls_;
}

void broadcast_tensors(Communicator& comm, std::span<const Tensor> tensors, int root) {
  if (comm.size() == 1) return;
  for (const Tensor& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    const size_t bytes = size_t(t.numel()) * (t.dtype() == DType::f32 ? 4 : 8);
    comm.broadcast(std::span<std::byte>(static_cast<std::byte*>(t.raw()), bytes), root);
  }
}

void broadcast_module(Communicator& comm, const nn::Module& m, int root) {
  std::vector<Tensor> ts;
  for (auto& [name, t] : m.state_dict()) ts.push_back(t);
  broadcast_tensors(comm, ts, root);
}

void broadcast_optimizer(Communicator& comm, optim::Optimizer& opt, int root) {
  if (comm.size() == 1) return;
  // the layout first (names, dtypes, shapes), so a rank whose optimizer has no state yet can receive it
  const nn::NamedTensors mine = opt.state_dict();
  std::string layout;
  if (comm.rank() == root)
    for (const auto& [name, t] : mine) {
      layout += fmt::format("{}\t{}", name, int(t.dtype()));
      for (int64_t s : t.shape()) layout += fmt::format("\t{}", s);
      layout += "\n";
    }
  layout = broadcast_string(comm, layout, root);
  nn::NamedTensors state;
  size_t at = 0;
  while (at < layout.size()) {
    const size_t end = layout.find('\n', at);
    const std::string line = layout.substr(at, end - at);
    at = end + 1;
    std::vector<std::string> f;
    for (size_t a = 0, b; a <= line.size(); a = b + 1) {
      b = line.find('\t', a);
      if (b == std::string::npos) b = line.size();
      f.push_back(line.substr(a, b - a));
    }
    Shape shape;
    for (size_t i = 2; i < f.size(); ++i) shape.push_back(std::stoll(f[i]));
    state.emplace_back(f[0], comm.rank() == root ? Tensor() : empty(shape, DType(std::stoi(f[1]))));
  }
  if (comm.rank() == root) state = mine;
  std::vector<Tensor> ts;
  for (auto& [n, t] : state) ts.push_back(t);
  broadcast_tensors(comm, ts, root);
  if (comm.rank() != root) opt.load_state_dict(state);
}

uint64_t fingerprint(std::string_view bytes, uint64_t h) {
  for (const char c : bytes) h = (h ^ uint8_t(c)) * 1099511628211ull;
  return h;
}

void check_same(Communicator& comm, uint64_t value, const std::string& what) {
  if (comm.size() == 1) return;
  const uint64_t root = broadcast_value(comm, value);
  // every rank learns which ranks differ: one slot per rank, summed
  std::vector<double> v(size_t(comm.size()), 0.0);
  v[size_t(comm.rank())] = value == root ? 0 : 1;
  comm.all_reduce(std::span<double>(v), Reduce::sum);
  for (int r = 0; r < comm.size(); ++r)
    if (v[size_t(r)] != 0)
      throw CollectiveError(fmt::format("{} differs between ranks (rank {} differs from rank 0): every rank must run the same "
                              "command on the same data", what, r));
}

}  // namespace elbo::parallel
