#include "models/seqvae.h"

#include <cmath>

#include "distributions/bivariate_normal.h"
#include "distributions/categorical.h"
#include "distributions/independent.h"
#include "distributions/mixture.h"
#include "distributions/normal.h"

namespace elbo::models {
namespace {

// |corr| stays below 1 in f32 too (tanh saturates to exactly 1 there), so log(1 - corr^2) is finite.
constexpr double kCorrMax = 1.0 - 1e-5;
enum Pen : int64_t { kDown = 0, kUp = 1, kEnd = 2 };

std::unique_ptr<nn::RecurrentBase> make_rnn(CellKind kind, int64_t in, int64_t hidden, nn::RecurrentOptions opt,
                                            Generator& gen) {
  if (kind == CellKind::lstm) return std::make_unique<nn::LSTM>(in, hidden, opt, gen);
  return std::make_unique<nn::GRU>(in, hidden, opt, gen);
}

// The start token (0, 0, pen down) for every row: [b, 1, 5].
Tensor start_token(int64_t b, DType d) {
  const Tensor t = zeros({b, 1, 5}, DType::f64);
  for (int64_t i = 0; i < b; ++i) t.data<double>()[i * 5 + 2] = 1;
  return d == DType::f64 ? t : t.to(d);
}

template <class T, class V> void lengths_of(const T* x, int64_t b, int64_t t, V& len) {
  len.resize(size_t(b));
  for (int64_t i = 0; i < b; ++i) {
    int64_t l = 0;
    for (int64_t k = 0; k < t; ++k) {
      const T* p = x + (i * t + k) * 5;
      if (l == 0 || k < l) {  // inside the sequence: a pen one-hot
        const bool onehot = (p[2] == 1 || p[3] == 1 || p[4] == 1) && p[2] + p[3] + p[4] == 1 &&
                            p[2] * p[3] == 0 && p[3] * p[4] == 0 && p[2] * p[4] == 0;
        ELBO_CHECK_VALUE(onehot, "stroke-5 batch: sequence {} point {} has pen ({}, {}, {}), not a one-hot (or the "
                         "sequence ended before with no end-of-character point)", i, k, p[2], p[3], p[4]);
        if (p[4] == 1) l = k + 1;
      } else {
        ELBO_CHECK_VALUE(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 && p[4] == 0,
                         "stroke-5 batch: sequence {} has values at point {} after its end at {}", i, k, l);
      }
    }
    ELBO_CHECK_VALUE(l > 0, "stroke-5 batch: sequence {} has no end-of-character point in its {} points", i, t);
    len[size_t(i)] = l;
  }
}

// stroke5_lengths into a pooled vector (a training step allocates nothing on the heap).
template <class V> void lengths_into(const Tensor& x, V& len) {
  ELBO_CHECK_SHAPE(x.defined() && x.dim() == 3 && x.size(2) == 5 && x.size(1) > 0,
                   "stroke-5 batch: expected [batch, time, 5], got {}", x.defined() ? x.shape() : Shape{});
  if (x.dtype() == DType::f64) return lengths_of(x.data<const double>(), x.size(0), x.size(1), len);
  ELBO_CHECK(x.dtype() == DType::f32, "stroke-5 batch: needs a floating tensor, got {}", x.dtype());
  lengths_of(x.data<const float>(), x.size(0), x.size(1), len);
}

// The pen state of point r of x [*, 5] (its one-hot's position).
int64_t pen_at(const Tensor& x, int64_t r) {
  const auto at = [&](int64_t k) {
    return x.dtype() == DType::f64 ? x.data<const double>()[r * 5 + k] : double(x.data<const float>()[r * 5 + k]);
  };
  return at(2) == 1 ? kDown : at(3) == 1 ? kUp : kEnd;
}

}  // namespace

std::vector<int64_t> stroke5_lengths(const Tensor& x) {
  std::vector<int64_t> len;
  lengths_into(x, len);
  return len;
}

std::vector<float> stroke3_of(const Tensor& x, int64_t b) {
  const std::vector<int64_t> len = stroke5_lengths(narrow(x, 0, b, 1));
  const std::vector<double> v = narrow(x, 0, b, 1).to_vector<double>();
  std::vector<float> out;
  for (int64_t k = 0; k < len[0]; ++k)
    out.insert(out.end(), {float(v[size_t(k * 5)]), float(v[size_t(k * 5 + 1)]), float(v[size_t(k * 5 + 2)] == 1 ? 0 : 1)});
  return out;
}

CellKind parse_cell(const std::string& s) {
  if (s == "lstm") return CellKind::lstm;
  if (s == "gru") return CellKind::gru;
  throw ValueError(fmt::format("cell '{}' is not lstm or gru", s));
}

// ---- decoder ----

StrokeDecoder::StrokeDecoder(const SeqVaeOptions& o, Generator& gen) : o_(o) {
  ELBO_CHECK(o.latent > 0 && o.dec_hidden > 0 && o.mixtures > 0,
             "StrokeDecoder: latent {}, dec_hidden {} and mixtures {} must be positive", o.latent, o.dec_hidden,
             o.mixtures);
  const int64_t in = 5 + (o.use_latent ? o.latent : 0);
  rnn_ = &register_module("rnn", make_rnn(o.cell, in, o.dec_hidden, {.batch_first = true}, gen));
  if (o.use_latent)
    init_ = &register_module("init", nn::Linear(o.latent, (o.cell == CellKind::lstm ? 2 : 1) * o.dec_hidden, true, gen));
  out_ = &register_module("out", nn::Linear(o.dec_hidden, 6 * o.mixtures + 3, true, gen));
}

StrokeDecoder::Step StrokeDecoder::heads(const Tensor& h) const {
  const int64_t n = h.size(0), m = o_.mixtures;
  const Tensor p = (*out_)(h);
  Step s;
  s.pi = narrow(p, 1, 0, m);
  s.loc = reshape(narrow(p, 1, m, 2 * m), {n, m, 2});
  s.scale = exp(reshape(narrow(p, 1, 3 * m, 2 * m), {n, m, 2}));
  s.corr = tanh(narrow(p, 1, 5 * m, m)) * kCorrMax;
  s.pen = narrow(p, 1, 6 * m, 3);
  return s;
}

nn::RecurrentOutput StrokeDecoder::run(const Tensor& in, const Tensor& z, std::span<const int64_t> lengths,
                                       const Tensor& h0, const Tensor& c0) const {
  Tensor h = h0, c = c0;
  if (!h.defined() && o_.use_latent) {
    ELBO_CHECK_SHAPE(z.defined() && z.dim() == 2 && z.size(1) == o_.latent && z.size(0) == in.size(0),
                     "StrokeDecoder: z {} must be [batch {}, latent {}]", z.defined() ? z.shape() : Shape{},
                     in.size(0), o_.latent);
    const Tensor s = tanh((*init_)(z));
    h = unsqueeze(narrow(s, 1, 0, o_.dec_hidden), 0);
    if (rnn_->is_lstm()) c = unsqueeze(narrow(s, 1, o_.dec_hidden, o_.dec_hidden), 0);
  }
  return rnn_->run(in, h, c, lengths);
}

Tensor StrokeDecoder::log_prob(const Tensor& x, const Tensor& z) const {
  detail::PooledVector<int64_t> lengths;
  lengths_into(x, lengths);
  const int64_t b = x.size(0), t = x.size(1), hd = o_.dec_hidden;
  const DType d = x.dtype();
  Tensor in = start_token(b, d);
  if (t > 1) in = cat({in, narrow(x, 1, 0, t - 1)}, 1);  // teacher forcing: the previous point
  if (o_.use_latent) {
    ELBO_CHECK_SHAPE(z.defined() && z.dim() == 2 && z.size(0) == b,
                     "StrokeDecoder: z {} must be [batch {}, latent {}] for x {}", z.defined() ? z.shape() : Shape{}, b,
                     o_.latent, x.shape());
    in = cat({in, expand(unsqueeze(z, 1), {b, t, o_.latent})}, 2);
  }
  const Tensor out = run(in, z, lengths, Tensor(), Tensor()).output;  // [B, T, H]
  // the points that exist, packed: their rows in [B * T], their sequence, their pen state
  int64_t n = 0;
  for (const int64_t l : lengths) n += l;
  const Tensor index = empty({n}, DType::i64), seq_of = empty({n}, DType::i64), pen_of = empty({n}, DType::i64);
  int64_t* rows = index.data<int64_t>();
  int64_t* seq = seq_of.data<int64_t>();
  int64_t* pen = pen_of.data<int64_t>();
  for (int64_t i = 0, j = 0; i < b; ++i)
    for (int64_t k = 0; k < lengths[size_t(i)]; ++k, ++j) rows[j] = i * t + k, seq[j] = i, pen[j] = pen_at(x, i * t + k);
  const Tensor h = index_select(reshape(out, {b * t, hd}), 0, index);
  const Tensor offsets = narrow(index_select(reshape(x, {b * t, 5}), 0, index), 1, 0, 2);
  const Step s = heads(h);
  const dist::MixtureSameFamily<dist::BivariateNormal> mix(dist::Categorical(s.pi),
                                                           dist::BivariateNormal(s.loc, s.scale, s.corr));
  const Tensor lp = mix.log_prob(offsets) + dist::Categorical(s.pen).log_prob(pen_of);
  return index_add(zeros({b}, lp.dtype()), 0, seq_of, lp);
}

Tensor StrokeDecoder::sample(const Tensor& z, int64_t count, int64_t max_len, double temperature, Generator& gen) const {
  ELBO_CHECK_VALUE(temperature > 0 && std::isfinite(temperature), "StrokeDecoder: temperature {} must be > 0",
                   temperature);
  ELBO_CHECK_VALUE(count > 0 && max_len > 0, "StrokeDecoder: count {} and max_len {} must be positive", count, max_len);
  NoGradGuard ng;
  const DType d = out_->weight().dtype();
  if (o_.use_latent)
    ELBO_CHECK_SHAPE(z.defined() && z.dim() == 2 && z.size(0) == count && z.size(1) == o_.latent,
                     "StrokeDecoder: z {} must be [count {}, latent {}]", z.defined() ? z.shape() : Shape{}, count,
                     o_.latent);
  Tensor h, c, prev = start_token(count, d);
  if (!o_.use_latent) {
    h = zeros({1, count, o_.dec_hidden}, d);
    if (rnn_->is_lstm()) c = zeros({1, count, o_.dec_hidden}, d);
  }
  std::vector<double> out(size_t(count * max_len * 5), 0.0);
  std::vector<bool> done(size_t(count), false);
  int64_t used = 0;
  for (int64_t t = 0; t < max_len; ++t) {
    const Tensor in = o_.use_latent ? cat({prev, unsqueeze(z.to(d), 1)}, 2) : prev;
    const nn::RecurrentOutput r = run(in, z.defined() ? z.to(d) : z, {}, h, c);
    h = r.h_n, c = r.c_n;
    const Step s = heads(reshape(r.output, {count, o_.dec_hidden}));
    const dist::MixtureSameFamily<dist::BivariateNormal> mix(
        dist::Categorical(s.pi / temperature), dist::BivariateNormal(s.loc, s.scale * std::sqrt(temperature), s.corr));
    const std::vector<double> xy = mix.sample(gen).to_vector<double>();
    const std::vector<int64_t> pen = dist::Categorical(s.pen / temperature).sample(gen).to_vector<int64_t>();
    std::vector<double> next(size_t(count * 5), 0.0);
    bool all = true;
    for (int64_t i = 0; i < count; ++i) {
      if (done[size_t(i)]) continue;
      const int64_t p = t + 1 == max_len ? int64_t(kEnd) : pen[size_t(i)];
      double* row = out.data() + (i * max_len + t) * 5;
      row[0] = next[size_t(i * 5)] = xy[size_t(2 * i)];
      row[1] = next[size_t(i * 5 + 1)] = xy[size_t(2 * i + 1)];
      row[2 + p] = next[size_t(i * 5 + 2 + p)] = 1;
      done[size_t(i)] = p == kEnd;
      all = all && done[size_t(i)];
    }
    used = t + 1;
    if (all) break;
    prev = tensor(next, {count, 1, 5}, d);
  }
  return narrow(tensor(out, {count, max_len, 5}, d), 1, 0, used);
}

Tensor StrokeLikelihood::sample(Generator& gen, const Shape& sample_shape) const {
  ELBO_CHECK(sample_shape.empty(), "StrokeLikelihood: draws one sequence per z (sample_shape must be empty)");
  return d_->sample(z_, z_.size(0), max_len_, temperature_, gen);
}

// ---- the model ----

SeqVae::SeqVae(const SeqVaeOptions& o, Generator& gen) : o_(o) {
  ELBO_CHECK(o.enc_hidden > 0, "SeqVae: enc_hidden {} must be positive", o.enc_hidden);
  if (o.use_latent) {
    encoder_ = &register_module(
        "encoder", make_rnn(o.cell, 5, o.enc_hidden, {.batch_first = true, .bidirectional = true}, gen));
    head_ = &register_module("head", nn::Linear(2 * o.enc_hidden, 2 * o.latent, true, gen));
  }
  decoder_ = &register_module("decoder", StrokeDecoder(o, gen));
}

dist::AnyDistribution SeqVae::prior() const { return standard_normal(o_.latent, decoder_->dtype()); }

dist::AnyDistribution SeqVae::posterior(const Tensor& x) const {
  ELBO_CHECK(o_.use_latent, "SeqVae: the model without a latent has no posterior");
  detail::PooledVector<int64_t> lengths;
  lengths_into(x, lengths);
  const Tensor hn = encoder_->run(x, Tensor(), Tensor(), lengths).h_n;  // [2, B, H]: both directions' last states
  const Tensor p = (*head_)(cat({select(hn, 0, 0), select(hn, 0, 1)}, 1));
  const Tensor mu = narrow(p, 1, 0, o_.latent), logvar = narrow(p, 1, o_.latent, o_.latent);
  return dist::Independent(dist::Normal(mu, exp(0.5 * logvar)), 1);
}

dist::AnyDistribution SeqVae::likelihood(const Tensor& z) const { return StrokeLikelihood(*decoder_, z); }

Tensor SeqVae::log_prob(const Tensor& x) const {
  ELBO_CHECK(!o_.use_latent, "SeqVae: log_prob(x) is the model without a latent; bound the latent model with "
             "models::elbo or models::iwae");
  return decoder_->log_prob(x, Tensor());
}

std::string SeqVae::describe() const {
  const char* cell = o_.cell == CellKind::lstm ? "LSTM" : "GRU";
  if (!o_.use_latent)
    return fmt::format("autoregressive {} {} (no latent), {} mixtures", cell, o_.dec_hidden, o_.mixtures);
  return fmt::format("sequence VAE: bi-{} {} -> z {} -> {} {}, {} mixtures", cell, o_.enc_hidden, o_.latent, cell,
                     o_.dec_hidden, o_.mixtures);
}

}  // namespace elbo::models
