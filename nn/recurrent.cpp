#include "nn/recurrent.h"

#include <cmath>

#include "autograd/ops.h"
#include "nn/init.h"

namespace elbo::nn {
namespace {

Tensor uniform_param(IntList shape, int64_t hidden, Generator& gen) {
  const double k = 1.0 / std::sqrt(double(hidden));
  return init::uniform_(empty(shape), -k, k, gen);
}

// The first `rows` rows of y, viewed as `shape` (a copy; the scan packs outputs and final states together).
Tensor rows_of(const Tensor& y, int64_t start, int64_t rows, IntList shape) {
  return reshape(narrow(y, 0, start, rows), shape);
}

}  // namespace

RecurrentBase::RecurrentBase(const char* kind, int64_t gates, int64_t input, int64_t hidden, RecurrentOptions opt,
                             Generator& gen)
    : kind_(kind), gates_(gates), input_(input), hidden_(hidden), opt_(opt) {
  ELBO_CHECK(input > 0 && hidden > 0 && opt.num_layers > 0,
             "{}: input_size {}, hidden_size {} and num_layers {} must be positive", kind, input, hidden,
             opt.num_layers);
  for (int64_t layer = 0; layer < opt.num_layers; ++layer)
    for (int64_t dir = 0; dir < directions(); ++dir) {
      const std::string sfx = fmt::format("_l{}{}", layer, dir == 1 ? "_reverse" : "");
      const int64_t in = layer == 0 ? input : hidden * directions();
      Weights w;
      w.w_ih = register_parameter("weight_ih" + sfx, uniform_param({gates * hidden, in}, hidden, gen));
      w.w_hh = register_parameter("weight_hh" + sfx, uniform_param({gates * hidden, hidden}, hidden, gen));
      if (opt.bias) {
        w.b_ih = register_parameter("bias_ih" + sfx, uniform_param({gates * hidden}, hidden, gen));
        w.b_hh = register_parameter("bias_hh" + sfx, uniform_param({gates * hidden}, hidden, gen));
      }
      w_.push_back(std::move(w));
    }
}

std::string RecurrentBase::extra_repr() const {
  std::string s = fmt::format("{}, {}", input_, hidden_);
  if (opt_.num_layers != 1) s += fmt::format(", num_layers={}", opt_.num_layers);
  if (!opt_.bias) s += ", bias=False";
  if (opt_.batch_first) s += ", batch_first=True";
  if (opt_.bidirectional) s += ", bidirectional=True";
  return s;
}

RecurrentOutput RecurrentBase::run(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                   std::span<const int64_t> lengths) const {
  const bool lstm = gates_ == 4;
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 3 && x.size(2) == input_,
                   "{}: input {} must be {} with input_size {} features", kind_,
                   x.defined() ? x.shape() : Shape{}, opt_.batch_first ? "[batch, time, input]" : "[time, batch, input]",
                   input_);
  const int64_t t = x.size(opt_.batch_first ? 1 : 0), b = x.size(opt_.batch_first ? 0 : 1);
  const int64_t states = opt_.num_layers * directions();
  for (const Tensor* s : {&h0, &c0})
    ELBO_CHECK_SHAPE(!s->defined() || (s->dim() == 3 && s->size(0) == states && s->size(1) == b && s->size(2) == hidden_),
                     "{}: initial state {} must be [num_layers * directions = {}, batch {}, hidden {}]", kind_,
                     s->shape(), states, b, hidden_);
  ELBO_CHECK(!lstm || h0.defined() == c0.defined(), "lstm: give both initial states h0 and c0, or neither");
  ELBO_CHECK(lstm || !c0.defined(), "gru: has no cell state c0");
  const RecurrentCell cell = lstm ? RecurrentCell::lstm : RecurrentCell::gru;
  const Tensor zero = (h0.defined() && c0.defined()) || (!lstm && h0.defined()) ? Tensor() : zeros({b, hidden_}, x.dtype());
  RecurrentOutput out;
  detail::PooledVector<Tensor> hn, cn, dir_out;  // no heap in a training step
  Tensor in = x;
  const detail::Dims out_shape = opt_.batch_first ? detail::Dims{b, t, hidden_} : detail::Dims{t, b, hidden_};
  for (int64_t layer = 0; layer < opt_.num_layers; ++layer) {
    dir_out.clear();
    for (int64_t dir = 0; dir < directions(); ++dir) {
      const Weights& w = weights(layer, dir);
      const int64_t k = layer * directions() + dir;
      const Tensor xp = linear(in, w.w_ih, w.b_ih);
      const Tensor y = recurrent_scan(cell, xp, h0.defined() ? select(h0, 0, k) : zero,
                                      lstm ? (c0.defined() ? select(c0, 0, k) : zero) : Tensor(), w.w_hh, w.b_hh,
                                      lengths, dir == 1, opt_.batch_first);
      dir_out.push_back(rows_of(y, 0, t * b, out_shape));
      hn.push_back(rows_of(y, t * b, b, {b, hidden_}));
      if (lstm) cn.push_back(rows_of(y, (t + 1) * b, b, {b, hidden_}));
    }
    in = directions() == 1 ? dir_out[0] : cat(std::span<const Tensor>(dir_out), 2);
  }
  out.output = in;
  out.h_n = stack(std::span<const Tensor>(hn), 0);
  if (lstm) out.c_n = stack(std::span<const Tensor>(cn), 0);
  return out;
}

GRU::GRU(int64_t input_size, int64_t hidden_size, RecurrentOptions options, Generator& gen)
    : RecurrentBase("GRU", 3, input_size, hidden_size, options, gen) {}

RecurrentOutput GRU::forward(const Tensor& x, const Tensor& h0, std::span<const int64_t> lengths) const {
  return run(x, h0, Tensor(), lengths);
}

LSTM::LSTM(int64_t input_size, int64_t hidden_size, RecurrentOptions options, Generator& gen)
    : RecurrentBase("LSTM", 4, input_size, hidden_size, options, gen) {}

RecurrentOutput LSTM::forward(const Tensor& x, const Tensor& h0, const Tensor& c0,
                              std::span<const int64_t> lengths) const {
  return run(x, h0, c0, lengths);
}

RecurrentCellBase::RecurrentCellBase(const char* kind, int64_t gates, int64_t input, int64_t hidden, bool bias,
                                     Generator& gen)
    : kind_(kind), gates_(gates), input_(input), hidden_(hidden) {
  ELBO_CHECK(input > 0 && hidden > 0, "{}: input_size {} and hidden_size {} must be positive", kind, input, hidden);
  w_ih_ = register_parameter("weight_ih", uniform_param({gates * hidden, input}, hidden, gen));
  w_hh_ = register_parameter("weight_hh", uniform_param({gates * hidden, hidden}, hidden, gen));
  if (bias) {
    b_ih_ = register_parameter("bias_ih", uniform_param({gates * hidden}, hidden, gen));
    b_hh_ = register_parameter("bias_hh", uniform_param({gates * hidden}, hidden, gen));
  }
}

std::string RecurrentCellBase::extra_repr() const {
  return fmt::format("{}, {}{}", input_, hidden_, b_ih_.defined() ? "" : ", bias=False");
}

Tensor RecurrentCellBase::step(const Tensor& x, const Tensor& h, const Tensor& c) const {
  const bool lstm = gates_ == 4;
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 2 && x.size(1) == input_, "{}: input {} must be [batch, {}]", kind_,
                   x.defined() ? x.shape() : Shape{}, input_);
  ELBO_CHECK(!lstm || h.defined() == c.defined(), "{}: give both states h and c, or neither", kind_);
  const int64_t b = x.size(0);
  for (const Tensor* s : {&h, &c})
    ELBO_CHECK_SHAPE(!s->defined() || (s->dim() == 2 && s->size(0) == b && s->size(1) == hidden_),
                     "{}: state {} must be [batch {}, hidden {}]", kind_, s->shape(), b, hidden_);
  const Tensor zero = h.defined() ? Tensor() : zeros({b, hidden_}, x.dtype());
  const Tensor xp = reshape(linear(x, w_ih_, b_ih_), {1, b, w_ih_.size(0)});
  return recurrent_scan(lstm ? RecurrentCell::lstm : RecurrentCell::gru, xp, h.defined() ? h : zero,
                        lstm ? (c.defined() ? c : zero) : Tensor(), w_hh_, b_hh_, {}, false, false);
}

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, bool bias, Generator& gen)
    : RecurrentCellBase("GRUCell", 3, input_size, hidden_size, bias, gen) {}

Tensor GRUCell::forward(const Tensor& x, const Tensor& h) const { return narrow(step(x, h, Tensor()), 0, 0, x.size(0)); }

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, bool bias, Generator& gen)
    : RecurrentCellBase("LSTMCell", 4, input_size, hidden_size, bias, gen) {}

LSTMCell::State LSTMCell::forward(const Tensor& x, const State& state) const {
  const Tensor y = step(x, state.h, state.c);
  const int64_t b = x.size(0);
  return {narrow(y, 0, 0, b), narrow(y, 0, 2 * b, b)};
}

}  // namespace elbo::nn
