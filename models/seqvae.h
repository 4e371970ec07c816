#pragma once
// A VAE for variable-length sequences of pen strokes (Ha and Eck 2017, SketchRNN; Bowman et al. 2016):
//   q(z | x)  a bidirectional recurrent encoder reads the whole sequence; its two final states give the
//             mean and log-variance of a diagonal Normal
//   p(x | z)  a recurrent decoder whose initial state is tanh(W z + b) and whose input at every step is the
//             previous point (a start token first) concatenated with z; per step a mixture of M
//             BivariateNormals over (dx, dy) and a Categorical over the pen's three states
//   p(z)      N(0, I)
// so it is an AmortizedModel like any other, scored by the shared estimators (elbo, iwae, loss with KL
// warm-up and free bits). Without the latent (use_latent = false) the decoder alone is a plain
// autoregressive model of the sequences, the baseline that shows what z buys.
//
// Sequences travel as padded stroke-5 tensors [B, T, 5]: (dx, dy, p_down, p_up, p_end) per point, the
// pen one-hot saying what follows the point (the stroke goes on; the pen lifts; the character ends), and
// all zeros after a sequence's end, so a tensor carries its own lengths (stroke5_lengths). Offsets are in
// units of the data's scale (strokes.h). Figures are log-densities in nats per sequence (continuous
// offsets, so they can be positive).
#include <span>

#include "../distributions/any.h"
#include "../nn/nn.h"
#include "model.h"
#include "strokes.h"  // the data (StrokeSet) and its stroke-5 batches (stroke5_batch)

namespace elbo::models {

// The lengths of a padded stroke-5 batch: the points whose pen one-hot is set, which must come first and
// end with p_end. An Error names the sequence and point otherwise.
std::vector<int64_t> stroke5_lengths(const Tensor& x);
// Back to stroke-3 points (dx, dy, pen lifted) of sequence b, in the data's units: for drawing.
std::vector<float> stroke3_of(const Tensor& x, int64_t b);

enum class CellKind { lstm, gru };
CellKind parse_cell(const std::string& s);  // "lstm" | "gru"

struct SeqVaeOptions {
  int64_t latent = 32;
  int64_t enc_hidden = 128;   // per direction
  int64_t dec_hidden = 256;
  int64_t mixtures = 20;      // M bivariate Normals per step
  CellKind cell = CellKind::lstm;
  bool use_latent = true;     // false: the decoder alone (a plain autoregressive model)
};

// p(x | z)'s network: one recurrent layer, the initial-state layer and the output layer.
class StrokeDecoder : public nn::Module {
 public:
  StrokeDecoder(const SeqVaeOptions& o, Generator& gen);
  // log p(x | z) per sequence [B], teacher forcing; z [B, L], or undefined without the latent.
  Tensor log_prob(const Tensor& x, const Tensor& z) const;
  // Draws `count` sequences of at most max_len points (z: [count, L] or undefined): padded stroke-5.
  // temperature scales the mixture's and the pen's logits by 1/t and the offsets' scales by sqrt(t), as
  // SketchRNN; t -> 0 approaches the most likely choices.
  Tensor sample(const Tensor& z, int64_t count, int64_t max_len, double temperature, Generator& gen) const;
  const SeqVaeOptions& options() const { return o_; }
  DType dtype() const { return out_->weight().dtype(); }

 private:
  struct Step {  // the per-step distributions of rows of decoder outputs
    Tensor pi, loc, scale, corr, pen;  // logits [N, M], [N, M, 2], [N, M, 2], [N, M], logits [N, 3]
  };
  Step heads(const Tensor& h) const;  // h [N, dec_hidden]
  nn::RecurrentOutput run(const Tensor& in, const Tensor& z, std::span<const int64_t> lengths, const Tensor& h0,
                          const Tensor& c0) const;
  SeqVaeOptions o_;
  nn::RecurrentBase* rnn_ = nullptr;
  nn::Linear* init_ = nullptr;  // z -> initial state (h, and c for LSTM)
  nn::Linear* out_ = nullptr;
};

// p(x | z) as a distribution over padded stroke-5 sequences: batch_shape [N], log_prob runs the decoder.
class StrokeLikelihood {
 public:
  StrokeLikelihood(const StrokeDecoder& d, Tensor z, int64_t max_len = 250, double temperature = 1.0)
      : d_(&d), z_(std::move(z)), max_len_(max_len), temperature_(temperature) {}
  Shape batch_shape() const { return {z_.size(0)}; }
  Shape event_shape() const { return {}; }  // a sequence of any length
  Tensor log_prob(const Tensor& x) const { return d_->log_prob(x, z_); }
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;  // sample_shape must be empty

 private:
  const StrokeDecoder* d_;
  Tensor z_;
  int64_t max_len_;
  double temperature_;
};

class SeqVae : public nn::Module, public AmortizedModel {
 public:
  SeqVae(const SeqVaeOptions& o, Generator& gen);
  dist::AnyDistribution prior() const override;
  dist::AnyDistribution posterior(const Tensor& x) const override;      // x padded stroke-5
  dist::AnyDistribution likelihood(const Tensor& z) const override;
  // log p(x) of the plain autoregressive model (use_latent = false), per sequence.
  Tensor log_prob(const Tensor& x) const;
  const StrokeDecoder& decoder() const { return *decoder_; }
  const SeqVaeOptions& options() const { return o_; }
  std::string describe() const;

 private:
  SeqVaeOptions o_;
  nn::RecurrentBase* encoder_ = nullptr;
  nn::Linear* head_ = nullptr;  // encoder states -> mean and log-variance
  StrokeDecoder* decoder_ = nullptr;
};

}  // namespace elbo::models
