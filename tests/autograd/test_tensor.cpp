#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>
#include <vector>

#include <autograd/allocator.h>

#include "test_util.h"

using namespace elbo;

TEST_CASE("creation, shape and dtype") {
  Tensor t = tensor(std::vector<double>{1, 2, 3, 4}, Shape{2, 2}, DType::f64);
  CHECK(t.shape() == Shape{2, 2});
  CHECK(t.dim() == 2);
  CHECK(t.numel() == 4);
  CHECK(t.dtype() == DType::f64);
  CHECK(t.size(-1) == 2);
  CHECK(t.to_vector<double>() == std::vector<double>{1, 2, 3, 4});
  CHECK(zeros({3}).dtype() == DType::f32);
  CHECK(ones({2, 3}, DType::f64).to_vector<double>() == std::vector<double>(6, 1.0));
  CHECK(full({2}, 2.5).to_vector<float>() == std::vector<float>{2.5f, 2.5f});
  CHECK(arange(4).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(scalar_tensor(3.0).dim() == 0);
  CHECK(scalar_tensor(3.0).item() == 3.0);
  CHECK(zeros({0, 3}).numel() == 0);
  CHECK(zeros_like(t).to_vector<double>() == std::vector<double>(4, 0.0));
  CHECK(ones_like(t).dtype() == DType::f64);
  CHECK(full_like(t, 7).to_vector<double>() == std::vector<double>(4, 7.0));
  CHECK(!Tensor().defined());
}

TEST_CASE("storage is 64-byte aligned") {
  for (int64_t n : {1, 3, 17, 1000}) {
    CHECK(reinterpret_cast<uintptr_t>(zeros({n}).raw()) % 64 == 0);
    CHECK(reinterpret_cast<uintptr_t>(zeros({n}, DType::f64).raw()) % 64 == 0);
  }
}

TEST_CASE("a Tensor is a shared handle; clone and detach") {
  Tensor a = zeros({3}, DType::f64);
  Tensor b = a;  // shares storage
  b.copy_(ones({3}, DType::f64));
  CHECK(a.to_vector<double>() == std::vector<double>{1, 1, 1});
  Tensor c = a.clone();
  c.copy_(zeros({3}, DType::f64));
  CHECK(a.to_vector<double>() == std::vector<double>{1, 1, 1});
  a.requires_grad_();
  Tensor d = (a * 2.0).detach();
  CHECK(!d.requires_grad());
  CHECK(d.is_leaf());
}

TEST_CASE("to(dtype) converts and is differentiable") {
  Tensor x = tensor({1.5, -2.25, 3}, {3}, DType::f64).requires_grad_();
  Tensor y = x.to(DType::f32);
  CHECK(y.dtype() == DType::f32);
  CHECK(y.to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.f});
  CHECK(x.to(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  sum(y * 2.0).backward();
  CHECK(x.grad().dtype() == DType::f64);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 2, 2});
  CHECK(x.to(DType::f64).same(x));
}

TEST_CASE("to_vector converts from any dtype") {
  Tensor i = tensor({1, 2, 3}, {3}, DType::i64);
  CHECK(i.to_vector<double>() == std::vector<double>{1, 2, 3});
  CHECK(i.to_vector<float>() == std::vector<float>{1, 2, 3});
  CHECK(tensor({1.9}, {1}).to_vector<int64_t>() == std::vector<int64_t>{1});
}

TEST_CASE("operator<< prints values, shape and dtype, truncating long dims") {
  std::ostringstream s;
  s << tensor({1, 2, 3, 4}, {2, 2});
  CHECK(s.str() == "tensor([[1, 2], [3, 4]], shape=[2, 2], dtype=f32)");
  const std::string big = to_string(arange(1000));
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.size() < 200);
  CHECK(to_string(Tensor()) == "tensor(undefined)");
}

TEST_CASE("tensor errors name the op and shapes") {
  CHECK_ERROR_HAS(tensor({1, 2, 3}, {2, 2}), "3 values given for shape [2, 2]");
  CHECK_ERROR_HAS(ones({2, 2}).item(), "item: the tensor has 4 elements (shape [2, 2])");
  CHECK_ERROR_HAS(arange(3).requires_grad_(), "i64 tensors cannot require grad");
  CHECK_ERROR_HAS(Tensor().shape(), "undefined Tensor");
  CHECK_ERROR_HAS(ones({2}).data<double>(), "tensor is f32, accessed as f64");
  CHECK_ERROR_HAS(ones({2}).copy_(ones({3})), "copy_: source shape [3] does not match destination shape [2]");
  CHECK_ERROR_HAS(ones({2}).size(2), "size: dim 2 out of range for shape [2]");
  CHECK_ERROR_HAS(zeros({-1, 2}), "negative dimension");
  Tensor x = ones({2}).requires_grad_();
  CHECK_ERROR_HAS((x * 2.0).requires_grad_(), "only leaf tensors");
}

TEST_CASE("the caching allocator reuses blocks and never hands out a block that is too small") {
  for (size_t n : {size_t(1), size_t(63), size_t(64), size_t(65), size_t(96), size_t(127), size_t(128), size_t(129),
                   size_t(1000), size_t(4097), size_t(1) << 20}) {
    size_t cap = 0;
    void* p = detail::allocate(n, cap);
    REQUIRE(p != nullptr);
    CHECK(cap >= n);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    std::memset(p, 0xab, cap);  // the whole capacity is usable
    detail::release(p, cap);
  }
  { Tensor warm = empty({123, 45}); }
  const size_t before = detail::allocator_stats().system_allocations;
  for (int i = 0; i < 100; ++i) Tensor t = empty({123, 45});
  const char* off = std::getenv("ELBO_NO_CACHE");  // the sanitizer build's ctest runs with the cache off
  if (off && std::string(off) == "1") CHECK(detail::allocator_stats().system_allocations == before + 100);
  else CHECK(detail::allocator_stats().system_allocations == before);
}

namespace {
bool caching_on() {
  const char* off = std::getenv("ELBO_NO_CACHE");
  return !(off && std::string(off) == "1");
}
}  // namespace

TEST_CASE("small blocks are reused by size class and may be released on another thread") {
  void* p = detail::small_allocate(40);
  std::memset(p, 0xcd, 40);
  detail::small_release(p, 40);
  void* q = detail::small_allocate(33);  // the same class
  if (caching_on()) CHECK(q == p);
  detail::small_release(q, 33);
  void* big = detail::small_allocate(5000);  // beyond the pooled classes: straight from the system
  std::memset(big, 0, 5000);
  detail::small_release(big, 5000);

  // Handles made on one thread, dropped on another (both ways); values must survive the hand-over.
  std::vector<Tensor> from_thread;
  std::vector<Tensor> to_thread;
  for (int i = 0; i < 50; ++i) to_thread.push_back(full({3, i + 1}, double(i)));
  std::thread t([&] {
    for (int i = 0; i < 50; ++i) from_thread.push_back(full({i + 1}, double(i)) * 2.0);
    to_thread.clear();
  });
  t.join();
  for (int i = 0; i < 50; ++i) CHECK(from_thread[size_t(i)].to_vector<double>() == std::vector<double>(size_t(i + 1), 2.0 * i));
  from_thread.clear();
}

TEST_CASE("recording and backward reach the system allocator only while warming up") {
  Generator gen(3);
  Tensor x = randn({8, 5}, gen).requires_grad_();
  auto step = [&] {
    Tensor loss = mean(sum(reshape(relu(x * x - 0.5), {-1, 10}), {1}));
    loss.backward();
  };
  for (int i = 0; i < 3; ++i) step();
  const size_t before = detail::allocator_stats().small_system_allocations;
  for (int i = 0; i < 20; ++i) step();
  const size_t made = detail::allocator_stats().small_system_allocations - before;
  if (caching_on()) CHECK(made == 0);
  else CHECK(made > 0);  // the counter does count: with the pools off every block is a system call
}

TEST_CASE("IntList: a borrowed shape from a Shape, a braced list or pooled dims") {
  const Shape s{2, 3, 4};
  const detail::Dims d = detail::dims_of(s);
  CHECK(IntList(s) == IntList{2, 3, 4});
  CHECK(IntList(d) == s);
  CHECK(IntList(s).vec() == s);
  CHECK_FALSE(IntList{2, 3} == s);
  CHECK(IntList().empty());
  CHECK(fmt::format("{}", IntList(s)) == fmt::format("{}", s));
  CHECK(reshape(zeros(s), {4, -1}).shape() == Shape{4, 6});
  CHECK(reshape(zeros(s), d).shape() == s);
  Tensor e = empty(s);  // a Shape argument finds elbo::empty, not std::empty
  CHECK(e.shape() == s);
  CHECK(empty({5}, DType::f64).dtype() == DType::f64);
}
