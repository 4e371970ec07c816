// models::VqVae: the shapes of both grids, the straight-through gradient reaching the encoder (and the
// codebook only when it is learned by its loss), the ELBO under a uniform prior, training that lowers the
// reconstruction loss, a state_dict round trip, and the errors.
#include <models/vqvae.h>
#include <nn/optim.h>

#include <cmath>
#include <numeric>

#include "test_util.h"

using namespace elbo;
using namespace elbo::testing;

namespace {
models::VqVaeOptions small(int64_t downsample, double ema_decay) {
  models::VqVaeOptions o;
  o.height = o.width = 8, o.hidden = 8, o.codes = 6, o.code_dim = 3, o.downsample = downsample;
  o.quantizer.ema_decay = ema_decay;
  return o;
}
// 8x8 binary images: one bright row or column each
Tensor bars(int64_t n, Generator& gen) {
  std::vector<double> px(size_t(n * 64), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const bool row = gen.uniform() < 0.5;
    const int64_t at = int64_t(gen.below(8));
    for (int64_t k = 0; k < 8; ++k) px[size_t(i * 64 + (row ? at * 8 + k : k * 8 + at))] = 1.0;
  }
  return tensor(px, {n, 64});
}
}  // namespace

TEST_CASE("VqVae encodes to a grid of codes and decodes it at the image's size, for both downsamplings") {
  Generator gen(1);
  for (int64_t ds : {4, 2}) {
    CAPTURE(ds);
    models::VqVae m(small(ds, 0.99), gen);
    const Tensor x = bars(5, gen);
    const int64_t g = 8 / ds;
    CHECK(m.encode(x).shape() == Shape{5, g, g, 3});
    CHECK(m.codes(x).shape() == Shape{5, g, g});
    const models::VqVaeOutput o = m.forward(x);
    CHECK(o.out.shape() == Shape{5, 64});
    CHECK(o.log_likelihood.shape() == Shape{5});
    CHECK(o.q.z_q.shape() == Shape{5, g, g, 3});
    CHECK(m.reconstruct(x).shape() == Shape{5, 64});
    // the ELBO under a uniform prior: log p(x | z_q) less log K per position
    m.eval();
    const Tensor ll = m.likelihood(m.decode_codes(m.codes(x))).log_prob(x);
    CHECK(all_close(m.elbo(x), ll - double(g * g) * std::log(6.0), 1e-6, 1e-6));
  }
}

TEST_CASE("VqVae's loss reaches the encoder through the straight-through estimator; the codebook only without EMA") {
  for (double decay : {0.0, 0.99}) {
    CAPTURE(decay);
    Generator gen(2);
    models::VqVae m(small(4, decay), gen);
    const Tensor x = bars(6, gen);
    const models::VqVaeOutput o = m.forward(x);
    (-sum(o.log_likelihood) + o.q.loss).backward();
    for (const auto& [name, p] : m.named_parameters()) {
      CAPTURE(name);
      REQUIRE(p.grad().defined());
      CHECK(sum(abs(p.grad())).item() > 0);
    }
    bool codebook_is_parameter = false;
    for (const auto& [name, p] : m.named_parameters()) codebook_is_parameter |= name == "quantizer.embedding";
    CHECK(codebook_is_parameter == (decay == 0));
  }
}

TEST_CASE("VqVae trains: the reconstruction log-likelihood of bars rises, and the codebook is used") {
  for (double decay : {0.0, 0.9}) {
    CAPTURE(decay);
    Generator gen(3);
    models::VqVae m(small(4, decay), gen);
    const Tensor x = bars(64, gen);
    optim::Adam opt(m.parameters(), {.lr = 3e-3});
    double first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
      const models::VqVaeOutput o = m.forward(x);
      const Tensor loss = -mean(o.log_likelihood) + 12.0 * o.q.loss;
      if (step == 0) first = mean(o.log_likelihood).item();
      last = mean(o.log_likelihood).item();
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    CHECK(last > first + 10);  // nats per 64-pixel image
    m.eval();
    const Tensor codes = m.codes(x);
    std::vector<int> used(6, 0);
    for (int64_t c : codes.to_vector<int64_t>()) used[size_t(c)] = 1;
    CHECK(std::accumulate(used.begin(), used.end(), 0) >= 2);
  }
}

TEST_CASE("VqVae's state_dict round trip gives the same codes and outputs") {
  Generator gen(4), other(5);
  models::VqVae a(small(4, 0.99), gen), b(small(4, 0.99), other);
  const Tensor x = bars(8, gen);
  a.forward(x);  // move the EMA codebook off its start
  b.load_state_dict(a.state_dict());
  a.eval(), b.eval();
  CHECK(a.codes(x).to_vector<int64_t>() == b.codes(x).to_vector<int64_t>());
  CHECK(a.forward(x).out.to_vector<float>() == b.forward(x).out.to_vector<float>());
}

TEST_CASE("VqVae refuses a grid it cannot make, a flow likelihood and inputs of the wrong shape") {
  Generator gen(6);
  models::VqVaeOptions o = small(4, 0.99);
  o.height = 10;
  CHECK_THROWS_WITH_AS(models::VqVae(o, gen), doctest::Contains("images of 10x8 do not divide"), ValueError);
  o = small(3, 0.99);
  CHECK_THROWS_AS(models::VqVae(o, gen), ValueError);
  o = small(4, 0.99);
  o.likelihood.kind = models::LikelihoodKind::flow;
  CHECK_THROWS_WITH_AS(models::VqVae(o, gen), doctest::Contains("needs a flow decoder"), ValueError);
  models::VqVae m(small(4, 0.99), gen);
  CHECK_THROWS_WITH_AS(m.encode(zeros({2, 63})), doctest::Contains("[2, 63] must be [N, 64]"), ShapeError);
  CHECK_THROWS_AS(m.decode_codes(zeros({2, 3, 2}, DType::i64)), ShapeError);
  CHECK_THROWS_AS(m.decode_codes(full({1, 2, 2}, 6, DType::i64)), ValueError);  // code 6 of 6
}

TEST_CASE("the README's VQ-VAE snippet runs") {
  Generator gen(7);
  const Tensor z_e = randn({4, 7, 7, 16}, gen).requires_grad_();
  const Tensor x = bernoulli(full({4, 784}, 0.3), gen);
  // --- from README.md ---
  nn::VectorQuantizer vq(128, 16, {.commitment = 0.25, .ema_decay = 0.99, .restart_after = 20});
  const nn::Quantized q = vq(z_e);  // z_e [..., 16] -> codes [...] (i64), z_q (z_e's gradient), loss
  const Tensor e = vq.lookup(q.codes);  // the codes' vectors, z_e's shape (no gradient with EMA)

  models::VqVae m({.codes = 128, .code_dim = 16}, gen);  // 28x28 images to 7x7 codes, Bernoulli p(x|z_q)
  const models::VqVaeOutput o = m.forward(x);            // o.log_likelihood: log p(x|z_q); o.q: as above
  const Tensor loss = -mean(o.log_likelihood) + 7 * 7 * 16 * o.q.loss;  // the paper's sums per example
  const Tensor codes = m.codes(x);                       // i64 [N, 7, 7]
  const Tensor images = m.images(m.decode_codes(codes)); // the decoder's means, [N, 784]
  // --- end ---
  CHECK(e.shape() == z_e.shape());
  CHECK(q.z_q.shape() == z_e.shape());
  CHECK(codes.shape() == Shape{4, 7, 7});
  CHECK(images.shape() == Shape{4, 784});
  loss.backward();
  CHECK(std::isfinite(loss.item()));
}
