#include "autograd/tensor.h"

#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>

#include "autograd/allocator.h"
#include "autograd/ops.h"
#include "autograd/tape.h"

namespace elbo {

int64_t numel_of(IntList s) {
  int64_t n = 1;
  for (int64_t d : s) {
    ELBO_CHECK_SHAPE(d >= 0, "shape {} has a negative dimension", s);
    n *= d;
  }
  return n;
}

namespace {
constexpr size_t kFreeImpls = 4096;  // handles kept per thread
constexpr size_t kShapeReserve = 6;  // dims a fresh handle's shape holds without growing

thread_local bool t_impls_gone = false;  // trivially destructible: readable during thread exit
struct FreeImpls {
  std::vector<TensorImpl*> list;
  FreeImpls() { list.reserve(kFreeImpls); }
  ~FreeImpls() {
    for (TensorImpl* p : list) delete p;
    t_impls_gone = true;
  }
};
thread_local FreeImpls t_impls;

bool recycling() { return detail::caching_enabled() && !t_impls_gone; }

struct Recycle {
  void operator()(TensorImpl* p) const noexcept {
    // Dropping these may release other handles (a node's closure holds tensors): that recursion pushes
    // onto the list too, which is fine because p is pushed last.
    p->storage.reset();
    p->grad.reset();
    p->node.reset();
    p->requires_grad = false;
    if (recycling() && t_impls.list.size() < kFreeImpls) t_impls.list.push_back(p);
    else delete p;
  }
};
}  // namespace

namespace detail {
std::shared_ptr<TensorImpl> new_impl() {
  TensorImpl* p = nullptr;
  if (recycling() && !t_impls.list.empty()) {
    p = t_impls.list.back();
    t_impls.list.pop_back();
  } else {
    p = new TensorImpl;
    p->shape.reserve(kShapeReserve);
  }
  return std::shared_ptr<TensorImpl>(p, Recycle{}, PoolAllocator<TensorImpl>{});
}
std::shared_ptr<Storage> new_storage(size_t nbytes) {
  return std::allocate_shared<Storage>(PoolAllocator<Storage>{}, nbytes);
}
}  // namespace detail

Storage::Storage(size_t n) : nbytes(n) {
  data = detail::allocate(n, capacity);
  if (!data) throw Error(fmt::format("out of memory allocating {} bytes for a tensor", n));
}
Storage::~Storage() { detail::release(data, capacity); }

namespace {
const TensorImpl& need(const std::shared_ptr<TensorImpl>& p) {
  ELBO_CHECK(p != nullptr, "use of an undefined Tensor (default-constructed, or a grad() before backward)");
  return *p;
}
}  // namespace

const Shape& Tensor::shape() const { return need(impl_).shape; }
int64_t Tensor::numel() const { return need(impl_).numel; }
DType Tensor::dtype() const { return need(impl_).dtype; }
int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  ELBO_CHECK_SHAPE(d >= -n && d < n, "size: dim {} out of range for shape {}", d, shape());
  return shape()[size_t(d < 0 ? d + n : d)];
}

Tensor& Tensor::requires_grad_(bool on) {
  need(impl_);
  ELBO_CHECK(!on || is_floating(impl_->dtype), "requires_grad_: {} tensors cannot require grad (shape {})",
             impl_->dtype, impl_->shape);
  ELBO_CHECK(impl_->node == nullptr,
             "requires_grad_: only leaf tensors can change requires_grad (this one was produced by '{}'; "
             "use detach() to make a leaf)", impl_->node ? impl_->node->name : "");
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::requires_grad() const { return need(impl_).requires_grad; }
bool Tensor::is_leaf() const { return need(impl_).node == nullptr; }
void Tensor::backward(bool retain_graph) const { run_backward(*this, retain_graph); }

Tensor Tensor::grad() const { return Tensor(need(impl_).grad); }
void Tensor::set_grad(const Tensor& g) const {
  need(impl_);
  if (g.defined())
    ELBO_CHECK_SHAPE(g.shape() == impl_->shape && g.dtype() == impl_->dtype,
                     "set_grad: gradient {} {} does not match tensor {} {}", g.dtype(), g.shape(), impl_->dtype,
                     impl_->shape);
  impl_->grad = g.impl_ptr();
}

Tensor Tensor::detach() const {
  const auto& s = need(impl_);
  auto p = detail::new_impl();
  p->storage = s.storage;
  p->shape = s.shape;
  p->numel = s.numel;
  p->dtype = s.dtype;
  return Tensor(std::move(p));
}

Tensor Tensor::clone() const {
  Tensor y = empty(shape(), dtype());
  std::memcpy(y.raw(), raw(), size_t(numel()) * itemsize(dtype()));
  return record(op::clone, y, {*this}, [](const Tensor& gy) { return Grads{gy}; });
}

Tensor Tensor::to(DType d) const {
  if (d == dtype()) return *this;
  Tensor y = empty(shape(), d);
  with_dtype(dtype(), [&](auto s) {
    using S = decltype(s);
    with_dtype(d, [&](auto t) {
      using T = decltype(t);
      const S* x = data<S>();
      T* o = y.data<T>();
      for (int64_t i = 0; i < numel(); ++i) o[i] = T(x[i]);
    });
  });
  if (!is_floating(d)) return y;
  const DType from = dtype();
  return record(op::to, y, {*this}, [from](const Tensor& gy) { return Grads{gy.to(from)}; });
}

void Tensor::copy_(const Tensor& src) const {
  ELBO_CHECK_SHAPE(src.shape() == shape(), "copy_: source shape {} does not match destination shape {}", src.shape(),
                   shape());
  Tensor s = src.dtype() == dtype() ? src : src.detach().to(dtype());
  if (s.raw() != raw()) std::memcpy(raw(), s.raw(), size_t(numel()) * itemsize(dtype()));
}

double Tensor::item() const {
  ELBO_CHECK_SHAPE(numel() == 1, "item: the tensor has {} elements (shape {}), item() needs exactly one",
                   numel(), shape());
  return with_dtype(dtype(), [&](auto t) { return double(data<decltype(t)>()[0]); });
}

template <class T> std::vector<T> Tensor::to_vector() const {
  std::vector<T> v(static_cast<size_t>(numel()));
  with_dtype(dtype(), [&](auto s) {
    const auto* x = data<decltype(s)>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = T(x[i]);
  });
  return v;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

template <class T> T* Tensor::data() const {
  const auto& s = need(impl_);
  ELBO_CHECK(s.dtype == dtype_of<std::remove_const_t<T>>(), "data: tensor is {}, accessed as {}", s.dtype,
             dtype_of<std::remove_const_t<T>>());
  return static_cast<T*>(s.storage->data);
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;
template const float* Tensor::data<const float>() const;
template const double* Tensor::data<const double>() const;
template const int64_t* Tensor::data<const int64_t>() const;

void* Tensor::raw() const { return need(impl_).storage->data; }

// Prints like torch: tensor([[1, 2], [3, 4]], shape=[2, 2], dtype=f32), eliding the middle of long dims.
std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  std::string out = "tensor(";
  const Shape& s = t.shape();
  constexpr int64_t kEdge = 3;
  with_dtype(t.dtype(), [&](auto z) {
    using T = decltype(z);
    const T* x = t.data<T>();
    Shape strides(s.size(), 1);
    for (int64_t d = int64_t(s.size()) - 2; d >= 0; --d) strides[size_t(d)] = strides[size_t(d + 1)] * s[size_t(d + 1)];
    auto rec = [&](auto& self, size_t d, int64_t off) -> void {
      if (d == s.size()) {
        if constexpr (std::is_integral_v<T>) out += fmt::format("{}", x[off]);
        else out += fmt::format("{:.4g}", x[off]);
        return;
      }
      out += '[';
      for (int64_t i = 0; i < s[d]; ++i) {
        if (s[d] > 2 * kEdge && i == kEdge) {
          out += "..., ";
          i = s[d] - kEdge;
        }
        self(self, d + 1, off + i * strides[d]);
        if (i + 1 < s[d]) out += ", ";
      }
      out += ']';
    };
    rec(rec, 0, 0);
  });
  out += fmt::format(", shape={}, dtype={}", s, t.dtype());
  if (t.requires_grad()) out += ", requires_grad";
  return os << out << ')';
}

std::string to_string(const Tensor& t) {
  std::ostringstream ss;
  ss << t;
  return ss.str();
}

}  // namespace elbo
