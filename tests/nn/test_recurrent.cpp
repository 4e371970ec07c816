// GRU, LSTM and their cells against torch.nn (float64, 1e-10; variable-length batches packed by
// pack_padded_sequence), gradchecks, the equality of a padded batch with each sequence run alone, on every
// instruction set, and the errors.
#include <cstring>

#include "fixtures/recurrent_fixtures.h"
#include <autograd/kernels/kernels.h>

#include "test_util.h"

using namespace elbo;
using namespace elbo::testing;

namespace {
namespace rf = ::recurrent_fixtures;

const rf::Array& fx(const std::string& name) {
  for (const auto& n : rf::all)
    if (name == n.name) return *n.array;
  FAIL("fixture lacks " << name);
  throw Error("unreachable");
}
Tensor ft(const std::string& name, bool grad = false) {
  Tensor t = tensor(fx(name).values, fx(name).shape, DType::f64);
  if (grad) t.requires_grad_();
  return t;
}
bool matches(const Tensor& t, const std::string& name) {
  const bool ok = t.defined() && t.shape() == Shape(fx(name).shape) && all_close(t, ft(name), 1e-10, 1e-10);
  if (!ok) MESSAGE("mismatch: ", name);
  return ok;
}
const std::vector<int64_t> kLengths{5, 2, 4};

// Copies the fixture's parameters into m (as f64) by torch's names.
void load_params(nn::Module& m, const std::string& prefix) {
  m.to(DType::f64);
  nn::NamedTensors state;
  for (const auto& [name, p] : m.named_parameters()) state.emplace_back(name, ft(prefix + "_" + name));
  m.load_state_dict(state);
}

void check_layer(const std::string& prefix, bool lstm, nn::RecurrentOptions opt) {
  CAPTURE(prefix);
  std::unique_ptr<nn::RecurrentBase> m;
  if (lstm) m = std::make_unique<nn::LSTM>(3, 4, opt);
  else m = std::make_unique<nn::GRU>(3, 4, opt);
  load_params(*m, prefix);
  const Tensor x = ft(prefix + "_x", true), h0 = ft(prefix + "_h0", true);
  const Tensor c0 = lstm ? ft(prefix + "_c0", true) : Tensor();
  const nn::RecurrentOutput out = lstm ? static_cast<nn::LSTM&>(*m)(x, h0, c0, kLengths)
                                       : static_cast<nn::GRU&>(*m)(x, h0, kLengths);
  CHECK(matches(out.output, prefix + "_output"));
  CHECK(matches(out.h_n, prefix + "_h_n"));
  Tensor loss = sum(out.output * ft(prefix + "_wo")) + sum(out.h_n * ft(prefix + "_wh"));
  if (lstm) {
    CHECK(matches(out.c_n, prefix + "_c_n"));
    loss = loss + sum(out.c_n * ft(prefix + "_wc"));
  }
  loss.backward();
  CHECK(matches(x.grad(), prefix + "_grad_x"));
  CHECK(matches(h0.grad(), prefix + "_grad_h0"));
  if (lstm) CHECK(matches(c0.grad(), prefix + "_grad_c0"));
  for (const auto& [name, p] : m->named_parameters()) CHECK(matches(p.grad(), prefix + "_grad_" + name));
}

std::vector<std::string> archs() {
  std::vector<std::string> out;
  const std::string before(kernels::arch_name());
  for (const char* a : {"sse2", "avx2", "avx512"})
    if (kernels::set_arch(a)) out.push_back(a);
  kernels::set_arch(before);
  return out;
}
}  // namespace

TEST_CASE("GRU and LSTM match torch.nn: outputs, final states and gradients, variable lengths, every path") {
  const std::string before(kernels::arch_name());
  for (const auto& arch : archs()) {
    CAPTURE(arch);
    REQUIRE(kernels::set_arch(arch));
    check_layer("gru", false, {.num_layers = 2, .bidirectional = true});
    check_layer("lstm", true, {.num_layers = 2, .bidirectional = true});
    check_layer("grubf", false, {.bias = false, .batch_first = true});
    check_layer("lstmbf", true, {.batch_first = true, .bidirectional = true});
  }
  kernels::set_arch(before);
}

TEST_CASE("GRUCell and LSTMCell match torch.nn") {
  nn::GRUCell g(3, 4);
  load_params(g, "grucell");
  const Tensor x = ft("grucell_x", true), h = ft("grucell_h", true);
  const Tensor h1 = g(x, h);
  CHECK(matches(h1, "grucell_h1"));
  sum(h1 * ft("grucell_wh")).backward();
  CHECK(matches(x.grad(), "grucell_grad_x"));
  CHECK(matches(h.grad(), "grucell_grad_h"));
  for (const auto& [name, p] : g.named_parameters()) CHECK(matches(p.grad(), "grucell_grad_" + name));

  nn::LSTMCell l(3, 4);
  load_params(l, "lstmcell");
  const Tensor lx = ft("lstmcell_x", true), lh = ft("lstmcell_h", true), lc = ft("lstmcell_c", true);
  const auto s = l(lx, {lh, lc});
  CHECK(matches(s.h, "lstmcell_h1"));
  CHECK(matches(s.c, "lstmcell_c1"));
  (sum(s.h * ft("lstmcell_wh")) + sum(s.c * ft("lstmcell_wc"))).backward();
  CHECK(matches(lx.grad(), "lstmcell_grad_x"));
  CHECK(matches(lh.grad(), "lstmcell_grad_h"));
  CHECK(matches(lc.grad(), "lstmcell_grad_c"));
  for (const auto& [name, p] : l.named_parameters()) CHECK(matches(p.grad(), "lstmcell_grad_" + name));
}

TEST_CASE("recurrent layers: parameter names, shapes and order as torch's state_dict") {
  nn::LSTM m(3, 4, {.num_layers = 2, .bidirectional = true});
  std::vector<std::string> names;
  for (const auto& [n, p] : m.named_parameters()) names.push_back(n);
  const std::vector<std::string> want{
      "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse",
      "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
      "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
  CHECK(names == want);
  const auto params = m.named_parameters();
  CHECK(params[0].second.shape() == Shape{16, 3});
  CHECK(params[1].second.shape() == Shape{16, 4});
  CHECK(params[8].second.shape() == Shape{16, 8});  // layer 1 reads both directions
  CHECK(m.num_parameters() == 2 * (16 * 3 + 16 * 4 + 32) + 2 * (16 * 8 + 16 * 4 + 32));
  // torch's init: every value within 1/sqrt(hidden)
  for (const auto& [n, p] : params) CHECK(count_outside(p, -0.5, 0.5) == 0);
  CHECK(nn::GRU(3, 4).named_parameters()[0].second.shape() == Shape{12, 3});
  CHECK(m.repr().find("LSTM(3, 4, num_layers=2, bidirectional=True)") != std::string::npos);
}

TEST_CASE("a padded batch gives each sequence what running it alone gives, both directions, two layers") {
  Generator gen(7);
  for (const bool lstm : {false, true}) {
    CAPTURE(lstm);
    for (const bool batch_first : {false, true}) {
      CAPTURE(batch_first);
      const nn::RecurrentOptions opt{.num_layers = 2, .batch_first = batch_first, .bidirectional = true};
      std::unique_ptr<nn::RecurrentBase> m;
      if (lstm) m = std::make_unique<nn::LSTM>(3, 5, opt, gen);
      else m = std::make_unique<nn::GRU>(3, 5, opt, gen);
      m->to(DType::f64);
      const auto run = [&](const Tensor& x, std::span<const int64_t> len) {
        return lstm ? static_cast<nn::LSTM&>(*m)(x, Tensor(), Tensor(), len) : static_cast<nn::GRU&>(*m)(x, Tensor(), len);
      };
      const std::vector<int64_t> lengths{3, 7, 1, 7, 4};
      const int64_t T = 7, B = 5;
      const int64_t tdim = batch_first ? 1 : 0, bdim = batch_first ? 0 : 1;
      const Tensor x = batch_first ? uniform({B, T, 3}, gen, -1, 1) : uniform({T, B, 3}, gen, -1, 1);
      const nn::RecurrentOutput all = run(x, lengths);
      for (int64_t b = 0; b < B; ++b) {
        CAPTURE(b);
        const int64_t L = lengths[size_t(b)];
        const Tensor xb = narrow(narrow(x, bdim, b, 1), tdim, 0, L);
        const nn::RecurrentOutput one = run(xb, {});
        const Tensor ob = narrow(all.output, bdim, b, 1);
        CHECK(all_close(narrow(ob, tdim, 0, L), one.output, 1e-12, 1e-12));
        if (L < T) CHECK(count_outside(narrow(ob, tdim, L, T - L), 0, 0) == 0);  // zeros after the end
        CHECK(all_close(narrow(all.h_n, 1, b, 1), one.h_n, 1e-12, 1e-12));
        if (lstm) CHECK(all_close(narrow(all.c_n, 1, b, 1), one.c_n, 1e-12, 1e-12));
      }
    }
  }
}

TEST_CASE("recurrent layers gradcheck in f64 with variable lengths") {
  Generator gen(3);
  const std::vector<int64_t> lengths{2, 4, 3};
  nn::GRU gru(2, 3, {.num_layers = 2, .bidirectional = true}, gen);
  gru.to(DType::f64);
  const Tensor x = uniform({4, 3, 2}, gen, -1, 1), h0 = uniform({4, 3, 3}, gen, -0.5, 0.5);
  CHECK(gradcheck(
      [&](std::vector<Tensor>& in) {
        const auto o = gru(in[0], in[1], lengths);
        return sum(square(o.output)) + sum(o.h_n * 0.7);
      },
      {x, h0}));
  CHECK(gradcheck_params([&] { return sum(square(gru(x, h0, lengths).output)); }, gru.parameters()));
  nn::LSTM lstm(2, 3, {.batch_first = true, .bidirectional = true}, gen);
  lstm.to(DType::f64);
  const Tensor xb = uniform({3, 4, 2}, gen, -1, 1), c0 = uniform({2, 3, 3}, gen, -0.5, 0.5);
  const Tensor lh0 = uniform({2, 3, 3}, gen, -0.5, 0.5);
  CHECK(gradcheck(
      [&](std::vector<Tensor>& in) {
        const auto o = lstm(in[0], in[1], in[2], lengths);
        return sum(square(o.output)) + sum(o.h_n * 0.3) + sum(square(o.c_n));
      },
      {xb, lh0, c0}));
  CHECK(gradcheck_params([&] { return sum(square(lstm(xb, lh0, c0, lengths).c_n)); }, lstm.parameters()));
  nn::GRUCell cell(2, 3, false, gen);
  cell.to(DType::f64);
  CHECK(gradcheck([&](std::vector<Tensor>& in) { return sum(square(cell(in[0], in[1]))); },
                  {uniform({2, 2}, gen, -1, 1), uniform({2, 3}, gen, -1, 1)}));
}

TEST_CASE("recurrent layers: a long sequence and a batch of one; f32 agrees with f64") {
  Generator gen(5);
  nn::LSTM m(4, 16, {}, gen);
  const Tensor x = uniform({300, 1, 4}, gen, -1, 1, DType::f32);
  const auto o32 = m(x);
  m.to(DType::f64);
  const auto o64 = m(x.to(DType::f64));
  CHECK(all_close(o32.output.to(DType::f64), o64.output, 1e-4, 1e-5));
  CHECK(count_outside(o32.output, -1, 1) == 0);  // h = o tanh(c) stays in (-1, 1)
}

TEST_CASE("recurrent layers: bad input is a clear error") {
  nn::GRU g(3, 4);
  nn::LSTM l(3, 4, {.num_layers = 2});
  Generator gen(1);
  const Tensor x = uniform({5, 2, 3}, gen, -1, 1, DType::f32);
  CHECK_ERROR_HAS(g(uniform({5, 2, 2}, gen, -1, 1, DType::f32)), "GRU: input [5, 2, 2] must be [time, batch, input]");
  CHECK_ERROR_HAS(g(uniform({5, 3}, gen, -1, 1, DType::f32)), "GRU: input [5, 3]");
  const std::vector<int64_t> zero{0, 3}, longer{6, 3}, three{1, 2, 3};
  CHECK_ERROR_HAS(g(x, Tensor(), zero), "length 0 of sequence 0 is outside [1, 5]");
  CHECK_ERROR_HAS(g(x, Tensor(), longer), "length 6 of sequence 0 is outside [1, 5]");
  CHECK_ERROR_HAS(g(x, Tensor(), three), "3 lengths for a batch of 2 sequences");
  CHECK_ERROR_HAS(g(x, zeros({2, 2, 4})), "initial state [2, 2, 4] must be [num_layers * directions = 1, batch 2");
  CHECK_ERROR_HAS(l(x, zeros({2, 2, 4})), "give both initial states h0 and c0");
  CHECK_ERROR_HAS(g(x.to(DType::f64)), "linear: input is f64, weight f32");
  CHECK_ERROR_HAS(nn::GRU(0, 4), "GRU: input_size 0");
  nn::LSTMCell cell(3, 4);
  CHECK_ERROR_HAS(cell(zeros({2, 3}), {zeros({2, 4}), Tensor()}), "LSTMCell: give both states");
  CHECK_ERROR_HAS(cell(zeros({2, 3}), {zeros({3, 4}), zeros({3, 4})}), "LSTMCell: state [3, 4] must be [batch 2");
  CHECK_ERROR_HAS(recurrent_scan(RecurrentCell::gru, zeros({2, 2, 12}), zeros({2, 4}), Tensor(), zeros({12, 5}),
                                 Tensor(), {}, false, false),
                  "gru: weight_hh [12, 5] must be [3 * hidden_size, hidden_size]");
  // the fused recurrence has no double backward: create_graph names it
  const Tensor xi = uniform({5, 2, 3}, gen, -1, 1, DType::f32).requires_grad_();
  const Tensor y = sum(square(g(xi).output));
  CHECK_ERROR_HAS(autograd::grad({y}, {xi}, {.create_graph = true}), "gru_scan");
}
