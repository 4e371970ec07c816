#include "autograd/ops/common.h"
#include "test_util.h"

using namespace elbo;

TEST_CASE("gradients accumulate on leaves across backward calls") {
  Tensor x = tensor({1, 2}, {2}, DType::f64).requires_grad_();
  sum(x * x).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4});
  sum(x * 3.0).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 7});
  x.set_grad(Tensor());
  CHECK(!x.grad().defined());
}

TEST_CASE("a tensor used twice gets both contributions") {
  Tensor x = tensor({3}, {1}, DType::f64).requires_grad_();
  Tensor y = x * x + x;  // dy/dx = 2x + 1
  y.backward();
  CHECK(x.grad().item() == 7.0);
}

TEST_CASE("backward needs one element, a graph, and runs once") {
  Tensor x = ones({2, 3}).requires_grad_();
  CHECK_ERROR_HAS((x * 2.0).backward(), "backward: the tensor has shape [2, 3] (6 elements)");
  CHECK_ERROR_HAS(sum(ones({2})).backward(), "does not require grad");
  Tensor loss = sum(exp(x));
  loss.backward();
  CHECK_ERROR_HAS(loss.backward(), "already used by an earlier backward()");
}

TEST_CASE("backward on a leaf scalar sets its gradient to one") {
  Tensor x = scalar_tensor(2.0, DType::f64).requires_grad_();
  x.backward();
  CHECK(x.grad().item() == 1.0);
}

TEST_CASE("requires_grad propagates; NoGradGuard stops recording and restores") {
  Tensor a = ones({2}).requires_grad_();
  Tensor b = ones({2});
  CHECK((a + b).requires_grad());
  CHECK(!(b + b).requires_grad());
  CHECK(grad_enabled());
  {
    NoGradGuard g;
    CHECK(!grad_enabled());
    CHECK(!(a + b).requires_grad());
    {
      NoGradGuard g2;
    }
    CHECK(!grad_enabled());
    {
      EnableGradGuard on;
      CHECK((a + b).requires_grad());
    }
    CHECK(!grad_enabled());
  }
  CHECK(grad_enabled());
}

TEST_CASE("a 100,000-op chain: backward and destruction need no recursion") {
  Tensor x = scalar_tensor(1.0, DType::f64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  y.backward();
  CHECK(x.grad().item() == 1.0);
  // A graph dropped without backward is freed iteratively too.
  Tensor z = x;
  for (int i = 0; i < 100000; ++i) z = z + 0.0;
  z = Tensor();
  CHECK(!z.defined());
}

TEST_CASE("the graph is released after backward") {
  Tensor x = ones({4}, DType::f64).requires_grad_();
  std::weak_ptr<Node> node;
  Tensor mid = exp(x);
  node = mid.impl()->node;
  sum(mid).backward();
  REQUIRE(!node.expired());  // `mid` still points at it
  CHECK(node.lock()->inputs.empty());
  CHECK(!node.lock()->backward);
}

TEST_CASE("gradients reach only leaves that require grad") {
  Tensor a = tensor({2}, {1}, DType::f64).requires_grad_();
  Tensor b = tensor({5}, {1}, DType::f64);
  sum(a * b).backward();
  CHECK(a.grad().item() == 5.0);
  CHECK(!b.grad().defined());
}

TEST_CASE("anomaly mode names the first op whose forward or backward is not finite") {
  Tensor x = tensor({1, -1}, {2}, DType::f64).requires_grad_();
  {
    AnomalyGuard guard;
    CHECK(anomaly_enabled());
    CHECK_ERROR_HAS(log(x - 1.0), "anomaly: forward of 'log' produced -inf at element 0 of its output [2]");
    Tensor y = sqrt(abs(x) - 1.0);  // sqrt(0): finite forward, infinite derivative
    CHECK_ERROR_HAS(sum(y).backward(), "anomaly: backward of 'sqrt' produced a non-finite gradient");
  }
  CHECK(!anomaly_enabled());
  CHECK(std::isinf(log(x - 1.0).to_vector<double>()[0]));  // off: no check
}

namespace {
struct MoveCounter {
  static inline int moves = 0;
  MoveCounter() = default;
  MoveCounter(const MoveCounter&) { ++moves; }
  MoveCounter(MoveCounter&&) noexcept { ++moves; }
};
}  // namespace

TEST_CASE("BackwardFn owns its closure: moves keep it, reset releases what it captured") {
  auto held = std::make_shared<int>(7);
  BackwardFn f = [held](const Tensor& g) { return Grads{g * double(*held)}; };
  CHECK(held.use_count() == 2);
  BackwardFn g = std::move(f);
  CHECK_FALSE(f);
  CHECK(g);
  CHECK(held.use_count() == 2);
  const Grads out = g(full({2}, 1.0));
  REQUIRE(out.size() == 1);
  CHECK(out[0].to_vector<double>() == std::vector<double>{7, 7});
  g = nullptr;
  CHECK_FALSE(g);
  CHECK(held.use_count() == 1);
  CHECK_THROWS_AS(g(full({1}, 1.0)), Error);  // an empty one is an internal error, not a crash
  // closures written against std::vector<Tensor> still work
  BackwardFn v = [](const Tensor& t) { return std::vector<Tensor>{t, Tensor()}; };
  const Grads two = v(full({1}, 1.0));
  CHECK(two.size() == 2);
  CHECK_FALSE(two[1].defined());
  // move-assignment releases the old closure and takes the new one
  auto other = std::make_shared<int>(1);
  BackwardFn h = [held](const Tensor& t) { return Grads{t}; };
  h = BackwardFn([other](const Tensor& t) { return Grads{t}; });
  CHECK(held.use_count() == 1);
  CHECK(other.use_count() == 2);
}

TEST_CASE("record builds the closure only when it records") {
  Tensor x = full({3}, 2.0).requires_grad_();
  auto op = [&] {
    return record(Op{"probe"}, x.detach() * 1.0, {x}, [c = MoveCounter()](const Tensor& gy) { return Grads{gy}; });
  };
  MoveCounter::moves = 0;
  {
    NoGradGuard guard;
    Tensor y = op();
    CHECK_FALSE(y.requires_grad());
  }
  CHECK(MoveCounter::moves == 0);
  Tensor y = op();
  CHECK(y.requires_grad());
  CHECK(MoveCounter::moves == 1);  // moved once into the node, never copied
  sum(y).backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{1, 1, 1});
}

// The internal helpers every op is built from (autograd/ops/common.h, tape.h's detail): they compute
// without recording, and attach() is the one place a node is made.
TEST_CASE("kernel helpers compute without recording; attach makes the node") {
  Generator gen(11);
  Tensor a = randn({2, 3, 1}, gen, DType::f64).requires_grad_();
  Tensor b = randn({3, 4}, gen, DType::f64);
  const Tensor y = detail::binary_kernel("add", a, b, kernels::Binary::add);
  CHECK(y.shape() == Shape{2, 3, 4});
  CHECK_FALSE(y.requires_grad());
  CHECK(testing::all_close(y, (a + b).detach(), 0, 0));

  const Tensor e = detail::unary_kernel("exp", a, kernels::Unary::exp);
  CHECK_FALSE(e.requires_grad());
  CHECK(testing::all_close(e, exp(a).detach(), 0, 0));

  const Tensor c = detail::broadcast_copy(a.detach(), {2, 3, 5});
  CHECK(c.shape() == Shape{2, 3, 5});
  const auto av = a.to_vector<double>(), cv = c.to_vector<double>();
  for (size_t i = 0; i < cv.size(); ++i) CHECK(cv[i] == av[i / 5]);
  CHECK_THROWS_AS(detail::broadcast_copy(a.detach(), {2, 4, 5}), ShapeError);

  // attach: out gets a node whose backward receives the incoming gradient.
  const Tensor in[] = {a, b};
  Tensor out = detail::attach(Op{"probe"}, a.detach() * 3.0, in, [](const Tensor& gy) { return Grads{gy * 3.0, Tensor()}; });
  CHECK(out.requires_grad());
  CHECK_FALSE(out.is_leaf());
  sum(out).backward();
  CHECK(testing::all_close(a.grad(), full({2, 3, 1}, 3.0, DType::f64), 0, 0));
  CHECK_FALSE(b.grad().defined());
}
