#pragma once
// Tensor: a cheap shared handle, like torch.Tensor. Copying a Tensor copies a pointer: the copies share
// storage, gradient and graph node, so a module, the tape and an optimizer all see the same parameter.
// Deep copies are explicit (clone()); detach() shares storage but drops the graph.
// Storage is contiguous, row-major and 64-byte aligned (no strides). Ops write new storage, except reshape
// and the ops built on it (flatten, squeeze, unsqueeze), which share their input's storage.
#include <concepts>
#include <iosfwd>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "allocator.h"
#include "dtype.h"

namespace elbo {

struct Node;

// One aligned buffer. Tensors share it through shared_ptr.
struct Storage {
  explicit Storage(size_t nbytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  size_t nbytes = 0;
  size_t capacity = 0;  // the block's real size (allocator.h)
};

// Handles come from new_impl(): released ones go back to a per-thread free list with their shape's
// capacity kept, so a recycled handle takes a new shape without allocating.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  int64_t numel = 0;
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // leaves only, accumulated by backward()
  std::shared_ptr<Node> node;        // the op that produced this tensor (null for leaves)
};

namespace detail {
// Shapes and dims computed inside ops and layers: pooled (allocator.h), so building one does not reach
// the heap.
using Dims = PooledVector<int64_t>;
inline Dims dims_of(IntList l) { return Dims(l.begin(), l.end()); }

// A fresh handle (requires_grad false, no grad, no node); the caller sets storage, shape, numel, dtype.
std::shared_ptr<TensorImpl> new_impl();
std::shared_ptr<Storage> new_storage(size_t nbytes);
}  // namespace detail

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return int64_t(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;

  // Autograd. requires_grad_ is for leaves; i64 tensors never require grad.
  Tensor& requires_grad_(bool on = true);
  bool requires_grad() const;
  bool is_leaf() const;
  // This must hold one element; gradients accumulate on leaves. retain_graph keeps the graph for another
  // backward through it (otherwise its buffers are freed).
  void backward(bool retain_graph = false) const;
  Tensor grad() const;        // undefined before any backward reached this leaf
  void set_grad(const Tensor& g) const;  // used by optimizers and zero_grad (undefined clears)

  Tensor detach() const;      // same storage, no graph, does not require grad
  Tensor clone() const;       // new storage; differentiable
  Tensor to(DType d) const;   // differentiable; returns *this if already d
  double item() const;        // the value of a one-element tensor
  // Overwrites the values in place from src (same shape; dtype converted). Never recorded: for
  // optimizers and loading. Every handle sharing this storage sees the new values.
  void copy_(const Tensor& src) const;
  template <class T> std::vector<T> to_vector() const;  // T in float, double, int64_t; converts

  // Raw access for ops and kernels; T must match dtype() (checked).
  template <class T> T* data() const;
  template <class T> std::span<T> span() const { return {data<std::remove_const_t<T>>(), size_t(numel())}; }
  void* raw() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::string to_string(const Tensor& t);

// Creation. `empty` leaves the values uninitialized.
Tensor empty(IntList shape, DType dtype = DType::f32);
// The same for a Shape (so `empty(shape)` does not find std::empty) and for a braced list (which would
// otherwise fit both of the above).
Tensor empty(const Shape& shape, DType dtype = DType::f32);
Tensor empty(std::initializer_list<int64_t> shape, DType dtype = DType::f32);
Tensor zeros(IntList shape, DType dtype = DType::f32);
Tensor ones(IntList shape, DType dtype = DType::f32);
Tensor full(IntList shape, double value, DType dtype = DType::f32);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor scalar_tensor(double value, DType dtype = DType::f32);  // shape []
Tensor arange(int64_t n, DType dtype = DType::i64);
// [start, end) in steps, as torch.arange; without a dtype, i64 when all three are integral, else f32.
Tensor arange(double start, double end, double step, DType dtype);
Tensor arange(double start, double end, double step = 1);
// Values are converted to dtype (integers exactly up to 2^53).
Tensor tensor(const std::vector<double>& values, IntList shape, DType dtype = DType::f32);
// Integer values: i64 by default, exact. (A template, so a braced list still means the f32 overload.)
namespace detail {
Tensor tensor_from_ints(const std::vector<int64_t>& values, IntList shape, DType dtype);
}
template <std::integral I> Tensor tensor(const std::vector<I>& values, IntList shape, DType dtype = DType::i64) {
  if constexpr (std::is_same_v<I, int64_t>) return detail::tensor_from_ints(values, shape, dtype);  // no copy
  else return detail::tensor_from_ints(std::vector<int64_t>(values.begin(), values.end()), shape, dtype);
}

}  // namespace elbo
