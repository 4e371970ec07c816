#pragma once
// Recurrent layers as their torch.nn namesakes, with PyTorch's parameter names, shapes, gate order and
// initialization, so state_dicts load both ways:
//   GRU(input, hidden, {num_layers, bias, batch_first, bidirectional})   gates r|z|n
//   LSTM(input, hidden, {...})                                           gates i|f|g|o
//   weight_ih_l{k}[_reverse] [G, in], weight_hh_l{k}[_reverse] [G, hidden], bias_ih_l{k}, bias_hh_l{k} [G]
//   with G = 3 hidden (GRU) or 4 hidden (LSTM); every value ~ U(-1/sqrt(hidden), 1/sqrt(hidden)).
//   GRUCell / LSTMCell(input, hidden, bias): weight_ih, weight_hh, bias_ih, bias_hh; one time step.
//
// Variable-length batches take the lengths directly (torch packs them with pack_padded_sequence): every
// output after a sequence's end is zero, as pad_packed_sequence gives, and the final states are each
// sequence's own at its last element, for either direction. The result is the same as running each
// sequence alone. Each layer and direction is one input-projection GEMM over all time steps and one fused
// recurrence op (recurrent_scan in ops.h). Not supported: dropout between layers and proj_size.
#include <span>

#include "init.h"
#include "module.h"

namespace elbo::nn {

struct RecurrentOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;  // x and output [batch, time, features] instead of [time, batch, features]
  bool bidirectional = false;
};

// output: [T, B, D * hidden] ([B, T, ...] with batch_first), D = 2 if bidirectional; h_n (and c_n for
// LSTM): [num_layers * D, B, hidden], layer-major as torch (layer 0 forward, layer 0 reverse, layer 1 ...).
struct RecurrentOutput {
  Tensor output, h_n, c_n;
};

// What GRU and LSTM share: the parameters per layer and direction and the layer loop.
class RecurrentBase : public Module {
 public:
  int64_t input_size() const { return input_; }
  int64_t hidden_size() const { return hidden_; }
  const RecurrentOptions& options() const { return opt_; }
  std::string extra_repr() const override;
  // The four tensors of layer `layer`, direction `dir` (0 forward, 1 reverse); bias_* undefined without bias.
  struct Weights {
    Tensor w_ih, w_hh, b_ih, b_hh;
  };
  const Weights& weights(int64_t layer, int64_t dir) const { return w_[size_t(layer * directions() + dir)]; }
  int64_t directions() const { return opt_.bidirectional ? 2 : 1; }
  bool is_lstm() const { return gates_ == 4; }
  // forward for either kind, for code that holds a RecurrentBase: c0 must be undefined for a GRU.
  RecurrentOutput run(const Tensor& x, const Tensor& h0, const Tensor& c0, std::span<const int64_t> lengths) const;

 protected:
  RecurrentBase(const char* kind, int64_t gates, int64_t input, int64_t hidden, RecurrentOptions opt, Generator& gen);

 private:
  const char* kind_;
  int64_t gates_, input_, hidden_;
  RecurrentOptions opt_;
  std::vector<Weights> w_;
};

class GRU : public RecurrentBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, RecurrentOptions options = {}, Generator& gen = default_generator());
  // x [T, B, input] (batch_first: [B, T, input]); h0 [num_layers * D, B, hidden] or undefined (zeros);
  // lengths: B values in [1, T], or empty when every sequence has T elements.
  RecurrentOutput forward(const Tensor& x, const Tensor& h0 = Tensor(), std::span<const int64_t> lengths = {}) const;
  RecurrentOutput operator()(const Tensor& x, const Tensor& h0 = Tensor(), std::span<const int64_t> lengths = {}) const {
    return forward(x, h0, lengths);
  }
};

class LSTM : public RecurrentBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, RecurrentOptions options = {}, Generator& gen = default_generator());
  // As GRU::forward with the cell state c0 beside h0 (both or neither).
  RecurrentOutput forward(const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                          std::span<const int64_t> lengths = {}) const;
  RecurrentOutput operator()(const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                             std::span<const int64_t> lengths = {}) const {
    return forward(x, h0, c0, lengths);
  }
};

// What GRUCell and LSTMCell share: torch's four tensors and one fused step.
class RecurrentCellBase : public Module {
 public:
  int64_t input_size() const { return input_; }
  int64_t hidden_size() const { return hidden_; }
  std::string extra_repr() const override;

 protected:
  RecurrentCellBase(const char* kind, int64_t gates, int64_t input, int64_t hidden, bool bias, Generator& gen);
  // The scan over one time step (rows: h', then for LSTM h' again and c').
  Tensor step(const Tensor& x, const Tensor& h, const Tensor& c) const;

 private:
  const char* kind_;
  int64_t gates_, input_, hidden_;
  Tensor w_ih_, w_hh_, b_ih_, b_hh_;
};

// One time step. x [B, input], h (and c) [B, hidden] or undefined (zeros).
class GRUCell : public RecurrentCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x, const Tensor& h = Tensor()) const;  // h'
  Tensor operator()(const Tensor& x, const Tensor& h = Tensor()) const { return forward(x, h); }
};

class LSTMCell : public RecurrentCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true, Generator& gen = default_generator());
  struct State {
    Tensor h, c;
  };
  State forward(const Tensor& x, const State& state = {}) const;  // (h', c')
  State operator()(const Tensor& x, const State& state = {}) const { return forward(x, state); }
};

}  // namespace elbo::nn
