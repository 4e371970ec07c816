// nn::VectorQuantizer against its torch twin (bench/torch_vq.py; float64 fixtures, 1e-12): codes, outputs,
// losses, perplexity and gradients with the codebook learned by its loss, three EMA steps with every
// buffer; the straight-through op; the nearest code against a brute-force search on every instruction
// set; restarts of unused codes; eval mode; the state_dict's names; the errors.
#include <autograd/kernels/kernels.h>

#include "fixtures/quantize_fixtures.h"
#include "test_util.h"

using namespace elbo;
using namespace elbo::testing;

namespace {
namespace qf = ::quantize_fixtures;

const qf::Array& fx(const std::string& name) {
  for (const auto& n : qf::all)
    if (name == n.name) return *n.array;
  FAIL("fixture lacks " << name);
  throw Error("unreachable");
}
Tensor ft(const std::string& name, DType dtype = DType::f64) { return tensor(fx(name).values, fx(name).shape, dtype); }
bool matches(const Tensor& t, const std::string& name, double tol = 1e-12) {
  const bool ok = t.defined() && t.shape() == Shape(fx(name).shape) && all_close(t, ft(name), tol, tol);
  if (!ok) MESSAGE("mismatch: ", name, " got ", t);
  return ok;
}
void set_state(nn::Module& m, const std::string& name, const Tensor& value) {
  nn::NamedTensors state = m.state_dict();
  for (auto& [n, t] : state)
    if (n == name) t = value;
  m.load_state_dict(state);
}
}  // namespace

TEST_CASE("straight_through has the value of z_q and the gradient of z_e") {
  const Tensor z_e = tensor({0.5, -1.0, 2.0}, {3}, DType::f64).requires_grad_();
  const Tensor z_q = tensor({1.0, 1.0, -3.0}, {3}, DType::f64).requires_grad_();
  const Tensor out = straight_through(z_e, z_q);
  CHECK(out.to_vector<double>() == std::vector<double>{1.0, 1.0, -3.0});
  sum(out * tensor({2.0, 3.0, 4.0}, {3}, DType::f64)).backward();
  CHECK(z_e.grad().to_vector<double>() == std::vector<double>{2.0, 3.0, 4.0});
  CHECK(!z_q.grad().defined());
  CHECK_THROWS_AS(straight_through(z_e, zeros({2}, DType::f64)), ShapeError);
  CHECK_THROWS_AS(straight_through(z_e, zeros({3})), ShapeError);  // f32 against f64
}

TEST_CASE("VectorQuantizer with the codebook learned by its loss matches the torch twin") {
  nn::VectorQuantizer vq(6, 3, {.commitment = 0.25, .ema_decay = 0});
  vq.to(DType::f64);
  set_state(vq, "embedding", ft("plain_embedding"));
  REQUIRE(vq.parameters().size() == 1);  // the codebook is a parameter
  const Tensor z = ft("plain_z").requires_grad_();
  const nn::Quantized q = vq(z);
  CHECK(q.codes.dtype() == DType::i64);
  CHECK(matches(q.codes, "plain_codes"));
  CHECK(matches(q.z_q, "plain_z_q"));
  CHECK(matches(q.loss, "plain_loss"));
  CHECK(matches(q.counts, "plain_counts"));
  CHECK(q.perplexity == doctest::Approx(fx("plain_perplexity").values[0]).epsilon(1e-12));
  (sum(q.z_q * ft("plain_w")) + q.loss).backward();
  CHECK(matches(z.grad(), "plain_grad_z"));
  CHECK(matches(vq.codebook().grad(), "plain_grad_embedding"));
  CHECK(matches(vq.nearest(z), "plain_codes"));
  CHECK(matches(vq.lookup(q.codes), "plain_z_q"));
}

TEST_CASE("VectorQuantizer's EMA codebook follows the torch twin over three training steps") {
  nn::VectorQuantizer vq(5, 2, {.commitment = 0.5, .ema_decay = 0.9, .epsilon = 1e-3});
  vq.to(DType::f64);
  set_state(vq, "embedding", ft("ema_start"));
  CHECK(vq.parameters().empty());  // the codebook is a buffer
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    const std::string s = std::to_string(step);
    const Tensor z = ft("ema_z" + s).requires_grad_();
    const nn::Quantized q = vq(z);
    CHECK(matches(q.codes, "ema_codes" + s));
    CHECK(matches(q.loss, "ema_loss" + s));
    CHECK(q.perplexity == doctest::Approx(fx("ema_perplexity" + s).values[0]).epsilon(1e-12));
    q.loss.backward();
    CHECK(matches(z.grad(), "ema_grad_z" + s));
    const auto state = vq.state_dict();
    for (const auto& [name, t] : state) {
      if (name == "steps") CHECK(t.item() == step + 1);
      else CHECK(matches(t, "ema_" + name + s));
    }
  }
  // code 3 was never used: its debiased moving average is zero, and so is its vector (as sonnet's)
  CHECK(vq.codebook().to_vector<double>()[6] == 0.0);
  CHECK(vq.codebook().to_vector<double>()[7] == 0.0);
}

TEST_CASE("VectorQuantizer's nearest code is the brute-force nearest on every instruction set, f32 and f64") {
  const std::string before(kernels::arch_name());
  for (DType dtype : {DType::f32, DType::f64}) {
    Generator gen(5);
    nn::VectorQuantizer vq(64, 8, {}, gen);
    vq.to(dtype);
    const Tensor z = randn({300, 8}, gen, dtype);
    const auto e = vq.codebook().to_vector<double>(), x = z.to_vector<double>();
    std::vector<int64_t> want(300);
    for (int i = 0; i < 300; ++i) {
      double best = 1e300;
      for (int k = 0; k < 64; ++k) {
        double d = 0;
        for (int c = 0; c < 8; ++c) d += (x[size_t(i * 8 + c)] - e[size_t(k * 8 + c)]) * (x[size_t(i * 8 + c)] - e[size_t(k * 8 + c)]);
        if (d < best) best = d, want[size_t(i)] = k;
      }
    }
    for (const auto& a : {std::string("sse2"), std::string("avx2"), std::string("avx512")}) {
      if (!kernels::set_arch(a)) continue;
      CAPTURE(a);
      CHECK(vq.nearest(z).to_vector<int64_t>() == want);
    }
  }
  kernels::set_arch(before);
}

TEST_CASE("VectorQuantizer restarts a code unused for restart_after training forwards onto a batch vector") {
  for (double decay : {0.0, 0.99}) {
    CAPTURE(decay);
    Generator gen(3);
    nn::VectorQuantizer vq(4, 2, {.ema_decay = decay, .restart_after = 2}, gen);
    set_state(vq, "embedding", tensor({0.0, 0.0, 5.0, 5.0, -5.0, 5.0, 5.0, -5.0}, {4, 2}));
    const Tensor z = tensor({0.1, 0.0, -0.1, 0.1, 0.0, -0.1}, {3, 2});  // all nearest to code 0
    vq(z);
    for (const auto& [name, t] : vq.state_dict())  // one unused forward: not yet restarted
      if (name == "unused_steps") CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 1});
    const nn::Quantized q = vq(z);
    CHECK(q.counts.to_vector<int64_t>() == std::vector<int64_t>{3, 0, 0, 0});
    const auto e = vq.codebook().to_vector<float>(), rows = z.to_vector<float>();
    for (int k = 1; k < 4; ++k) {  // each restarted code now sits on one of the batch's vectors
      CAPTURE(k);
      bool on_a_row = false;
      for (int r = 0; r < 3; ++r) on_a_row |= e[size_t(2 * k)] == rows[size_t(2 * r)] && e[size_t(2 * k + 1)] == rows[size_t(2 * r + 1)];
      CHECK(on_a_row);
    }
    for (const auto& [name, t] : vq.state_dict())
      if (name == "unused_steps") CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 0, 0});
    if (decay > 0) {  // the restarted codes' moving averages say: one vector, here
      vq(z);
      const auto e2 = vq.codebook().to_vector<float>();
      CHECK(e2[2] == doctest::Approx(e[2]).epsilon(0.05));
    }
    // a layer built from the same seed and loaded with this one's state restarts the same codes onto the
    // same vectors (the draw depends on the seed, the step and the code: a resumed run repeats it)
    Generator gen2(3);
    nn::VectorQuantizer again(4, 2, {.ema_decay = decay, .restart_after = 2}, gen2);
    again.load_state_dict(vq.state_dict());
    const Tensor far = tensor({9.0, 9.0, 9.1, 9.0, 9.0, 9.2, 8.9, 9.0}, {4, 2});  // only one code is nearest
    for (int i = 0; i < 3; ++i) vq(far), again(far);
    CHECK(vq.codebook().to_vector<float>() == again.codebook().to_vector<float>());
  }
}

TEST_CASE("VectorQuantizer in eval mode changes nothing; its state_dict has the twin's names") {
  Generator gen(1);
  nn::VectorQuantizer vq(8, 4, {}, gen);
  const Tensor z = randn({2, 3, 3, 4}, gen);
  vq.eval();
  const auto before = vq.state_dict();
  std::vector<std::vector<double>> values;
  for (const auto& [n, t] : before) values.push_back(t.clone().to_vector<double>());
  const nn::Quantized q = vq(z);
  CHECK(q.codes.shape() == Shape{2, 3, 3});
  CHECK(q.z_q.shape() == z.shape());
  const auto after = vq.state_dict();
  for (size_t i = 0; i < after.size(); ++i) CHECK(after[i].second.to_vector<double>() == values[i]);
  std::vector<std::string> names;
  for (const auto& [n, t] : after) names.push_back(n);
  CHECK(names == std::vector<std::string>{"embedding", "ema_count", "ema_weight", "steps", "unused_steps"});
  vq.train();
  vq(z);
  CHECK(vq.state_dict()[3].second.item() == 1);
  // every code used evenly: the perplexity is the number of codes
  nn::VectorQuantizer even(4, 1, {.ema_decay = 0});
  set_state(even, "embedding", tensor({-3.0, -1.0, 1.0, 3.0}, {4, 1}));
  CHECK(even(tensor({-3.1, -0.9, 1.2, 2.5, 3.3, 1.0, -1.0, -2.9}, {8, 1})).perplexity == doctest::Approx(4.0));
}

TEST_CASE("VectorQuantizer's bad input is an error naming the call and the shapes") {
  nn::VectorQuantizer vq(8, 4);
  CHECK_THROWS_WITH_AS(vq(zeros({3, 5})), doctest::Contains("[3, 5] must be [..., 4]"), ShapeError);
  CHECK_THROWS_AS(vq(zeros({0, 4})), ShapeError);
  CHECK_THROWS_AS(vq(zeros({3, 4}, DType::f64)), Error);
  CHECK_THROWS_AS(vq(Tensor()), Error);
  CHECK_THROWS_WITH_AS(vq.lookup(tensor(std::vector<int64_t>{1, 8}, {2})), doctest::Contains("code 8 (element 1)"),
                       ValueError);
  CHECK_THROWS_AS(vq.lookup(zeros({2})), Error);
  CHECK_THROWS_AS(nn::VectorQuantizer(0, 4), ValueError);
  CHECK_THROWS_AS(nn::VectorQuantizer(8, 4, {.ema_decay = 1.0}), ValueError);
  CHECK_THROWS_AS(nn::VectorQuantizer(8, 4, {.epsilon = 0}), ValueError);
  CHECK_THROWS_AS(nn::VectorQuantizer(8, 4, {.commitment = -1}), ValueError);
  CHECK_THROWS_AS(nn::VectorQuantizer(8, 4, {.restart_after = -1}), ValueError);
}
