// The sequence VAE: stroke-5 batches, padding invariance of the decoder's likelihood, gradchecks of the
// ELBO through the recurrent layers and the mixture, the shared estimators on it, training on a few
// sequences, sampling and the baseline without a latent.
#include <models/seqvae.h>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
using elbo::testing::all_close;

namespace {
// n random characters of 1 to 3 strokes of 1 to 6 points each, offsets within +-60 font units, scale 30.
StrokeSet random_strokes(int64_t n, uint64_t seed) {
  Generator g(seed);
  StrokeSet s;
  s.scale = 30;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int16_t> xy;
    std::vector<uint8_t> pen;
    const int strokes = 1 + int(g.uniform() * 3);
    for (int k = 0; k < strokes; ++k) {
      const int points = 1 + int(g.uniform() * 6);
      for (int p = 0; p < points; ++p) {
        xy.push_back(int16_t(g.uniform() * 120 - 60)), xy.push_back(int16_t(g.uniform() * 120 - 60));
        pen.push_back(p + 1 == points);
      }
    }
    s.add(uint32_t(0x4E00 + i), xy, pen);
  }
  return s;
}
std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}
SeqVaeOptions small(bool latent = true, CellKind cell = CellKind::lstm) {
  return {.latent = 3, .enc_hidden = 4, .dec_hidden = 5, .mixtures = 2, .cell = cell, .use_latent = latent};
}
}  // namespace

TEST_CASE("stroke-5 batches: pen one-hots, the end-of-character point, lengths read back") {
  const StrokeSet s = random_strokes(5, 1);
  const auto order = iota(5);
  const Tensor x = stroke5_batch(s, order, 0, 5);
  REQUIRE(x.shape() == Shape{5, s.max_length(), 5});
  const std::vector<int64_t> len = stroke5_lengths(x);
  for (int64_t i = 0; i < 5; ++i) CHECK(len[size_t(i)] == s.length(i));
  // stroke-3 of a sequence comes back in the data's units: pen lifted where stroke-3 had it
  const std::vector<float> p3 = stroke3_of(x, 0);
  REQUIRE(int64_t(p3.size()) == 3 * s.length(0));
  for (int64_t k = 0; k < s.length(0); ++k) {
    CHECK(p3[size_t(3 * k)] * 30 == doctest::Approx(s.xy[size_t(2 * k)]));
    CHECK(p3[size_t(3 * k + 2)] == float(s.pen[size_t(k)]));
  }
  std::vector<double> bad{0, 0, 1, 0, 0, 0, 0, 1, 0, 0};  // never ends
  CHECK_ERROR_HAS(stroke5_lengths(tensor(bad, {1, 2, 5})), "sequence 0 has no end-of-character point in its 2 points");
  std::vector<double> after{0, 0, 0, 0, 1, 0.5, 0, 0, 0, 0};  // values after the end
  CHECK_ERROR_HAS(stroke5_lengths(tensor(after, {1, 2, 5})), "sequence 0 has values at point 1 after its end at 1");
  std::vector<double> two{0, 0, 1, 1, 0};
  CHECK_ERROR_HAS(stroke5_lengths(tensor(two, {1, 1, 5})), "not a one-hot");
  CHECK_ERROR_HAS(stroke5_lengths(zeros({2, 3})), "expected [batch, time, 5], got [2, 3]");
}

TEST_CASE("sequence VAE: a padded batch scores each sequence as it scores alone; q's batch is the sequences") {
  for (const CellKind cell : {CellKind::lstm, CellKind::gru}) {
    Generator gen(2);
    SeqVae m(small(true, cell), gen);
    m.to(DType::f64);
    const StrokeSet s = random_strokes(6, 3);
    const auto order = iota(6);
    const Tensor x = stroke5_batch(s, order, 0, 6, DType::f64);
    const Tensor z = randn({6, 3}, gen, DType::f64);
    const Tensor all = m.likelihood(z).log_prob(x);
    const Tensor mu = location(m.posterior(x));
    REQUIRE(all.shape() == Shape{6});
    for (int64_t i = 0; i < 6; ++i) {
      const Tensor xi = stroke5_batch(s, order, i, i + 1, DType::f64);
      CHECK(m.likelihood(narrow(z, 0, i, 1)).log_prob(xi).item() == doctest::Approx(all.to_vector<double>()[size_t(i)]).epsilon(1e-12));
      CHECK(all_close(location(m.posterior(xi)), narrow(mu, 0, i, 1), 1e-12, 1e-12));
    }
  }
}

TEST_CASE("sequence VAE: the ELBO's gradient through encoder, decoder and mixture gradchecks in f64") {
  Generator gen(4);
  SeqVae m(small(), gen);
  m.to(DType::f64);
  const StrokeSet s = random_strokes(3, 5);
  const Tensor x = stroke5_batch(s, iota(3), 0, 3, DType::f64);
  CHECK(gradcheck_params(
      [&] {
        Generator g(9);  // the same eps for every evaluation
        return sum(models::elbo(m, x, g).elbo);
      },
      m.parameters(), {.rtol = 1e-5, .atol = 1e-7}));
  SeqVae ar(small(false, CellKind::gru), gen);
  ar.to(DType::f64);
  CHECK(gradcheck_params([&] { return sum(ar.log_prob(x)); }, ar.parameters(), {.rtol = 1e-5, .atol = 1e-7}));
}

TEST_CASE("sequence VAE: the shared estimators bound log p(x); training raises the ELBO on a few sequences") {
  Generator gen(6);
  SeqVae m({.latent = 4, .enc_hidden = 16, .dec_hidden = 32, .mixtures = 3}, gen);
  const StrokeSet s = random_strokes(16, 7);
  const Tensor x = stroke5_batch(s, iota(16), 0, 16);
  Generator g(1);
  const double before = mean(models::elbo(m, x, g).elbo).item();
  optim::Adam opt(m.parameters(), {.lr = 3e-3});
  for (int step = 1; step <= 150; ++step) {
    opt.zero_grad();
    const Tensor l = models::loss(m, x, g, {.warmup_steps = 50}, step);
    l.backward();
    optim::clip_grad_norm_(m.parameters(), 1.0);
    opt.step();
  }
  NoGradGuard ng;
  const double after = mean(models::elbo(m, x, g).elbo).item();
  CHECK(after > before + 5);  // nats per sequence of about 10 points
  const double bound = mean(models::iwae(m, x, g, 64)).item();
  CHECK(bound >= after - 0.5);  // IWAE K=64 is at least the ELBO, up to Monte Carlo noise
  CHECK(std::isfinite(bound));
}

TEST_CASE("sequence VAE: samples end with the end-of-character point; temperature and shapes are checked") {
  Generator gen(8);
  SeqVae m(small(), gen);
  const Tensor z = m.prior().sample(gen, {4});
  const Tensor x = m.decoder().sample(z, 4, 30, 0.5, gen);
  REQUIRE(x.dim() == 3);
  CHECK(x.size(0) == 4);
  CHECK(x.size(1) <= 30);
  const std::vector<int64_t> len = stroke5_lengths(x);  // valid stroke-5: one-hots, an end, zeros after
  for (int64_t l : len) CHECK((l >= 1 && l <= 30));
  CHECK(m.likelihood(z).sample(gen).size(0) == 4);
  CHECK_ERROR_HAS(m.decoder().sample(z, 4, 30, 0.0, gen), "temperature 0 must be > 0");
  CHECK_ERROR_HAS(m.decoder().sample(z, 3, 30, 1.0, gen), "z [4, 3] must be [count 3, latent 3]");
  CHECK_ERROR_HAS(m.likelihood(randn({2, 3}, gen)).log_prob(x), "z [2, 3] must be [batch 4, latent 3]");
  SeqVae ar(small(false), gen);
  CHECK(stroke5_lengths(ar.decoder().sample(Tensor(), 2, 10, 1.0, gen)).size() == 2);
  CHECK_ERROR_HAS(ar.posterior(x), "the model without a latent has no posterior");
  CHECK_ERROR_HAS(m.log_prob(x), "log_prob(x) is the model without a latent");
  CHECK_ERROR_HAS(parse_cell("rnn"), "cell 'rnn' is not lstm or gru");
  SeqVaeOptions bad = small();
  bad.mixtures = 0;
  CHECK_ERROR_HAS(SeqVae(bad, gen), "StrokeDecoder: latent 3, dec_hidden 5 and mixtures 0 must be positive");
  bad = small();
  bad.enc_hidden = 0;
  CHECK_ERROR_HAS(SeqVae(bad, gen), "SeqVae: enc_hidden 0 must be positive");
  CHECK_ERROR_HAS(m.decoder().sample(z, 4, 0, 1.0, gen), "count 4 and max_len 0 must be positive");
  CHECK_ERROR_HAS(m.likelihood(z).sample(gen, {2}), "draws one sequence per z");
}
