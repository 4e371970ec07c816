// A trained model as a tool (models/export.h): encode, decode and score over a data set in batches, the
// same rows whatever the batch, each call the model's own distributions read out.
#include <models/export.h>
#include <models/npy.h>
#include <models/vae.h>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;

namespace {
VaeOptions tiny(const char* q = "diagonal") {
  VaeOptions o;
  o.height = 3, o.width = 4, o.hidden = 8, o.latent = 3, o.posterior = parse_posterior(q);
  return o;
}
}  // namespace

TEST_CASE("encode: q(z|x)'s mean and marginal standard deviations per row, whatever the batch") {
  Generator gen(4);
  const VAE vae(tiny(), gen);
  const Tensor x = rand({7, 12}, gen);
  const Encoding a = encode(vae, x, 500), b = encode(vae, x, 3);
  REQUIRE(a.loc.shape() == Shape{7, 3});
  REQUIRE(a.scale.shape() == Shape{7, 3});
  CHECK(a.loc.to_vector<float>() == b.loc.to_vector<float>());  // batches of 3, 3 and 1: the same rows
  CHECK(a.scale.to_vector<float>() == b.scale.to_vector<float>());
  NoGradGuard ng;
  const dist::AnyDistribution q = vae.posterior(x);
  CHECK(testing::all_close(a.loc, q.mean(), 0, 0));
  CHECK(testing::all_close(a.scale, sqrt(q.variance()), 0, 0));
  CHECK(!a.loc.requires_grad());
  // a full covariance: the square roots of its diagonal
  const VAE full(tiny("full"), gen);
  const Encoding f = encode(full, x);
  CHECK(testing::all_close(square(f.scale), full.posterior(x).variance(), 1e-6, 1e-6));
  CHECK_ERROR_HAS(encode(vae, x, 0), "encode: the batch must be positive, got 0");
  CHECK_ERROR_HAS(encode(vae, Tensor()), "encode: needs one example per row");
}

TEST_CASE("decode and score: the decoder's means for given latents; per-example ELBO and IWAE bounds") {
  Generator gen(5);
  const VAE vae(tiny(), gen);
  const Tensor z = randn({5, 3}, gen);
  const Tensor x = decode(vae, z, 2);
  REQUIRE(x.shape() == Shape{5, 12});
  NoGradGuard ng;
  CHECK(testing::all_close(x, reshape(location(vae.likelihood(z)), {5, 12}), 0, 0));
  const Tensor data = bernoulli(rand({6, 12}, gen), gen);
  Generator g1(9), g2(9);
  const Scores s = score(vae, data, g1, 0);
  CHECK(s.elbo.shape() == Shape{6});
  CHECK(!s.loglik.defined());
  CHECK(testing::all_close(s.elbo, models::elbo(vae, data, g2).elbo, 0, 0));  // one batch: the estimator's own draws
  Generator g3(11);
  const Scores k = score(vae, data, g3, 200);
  REQUIRE(k.loglik.shape() == Shape{6});
  CHECK(mean(k.loglik).item() > mean(k.elbo).item());  // the 200-sample bound is the tighter one
  CHECK_ERROR_HAS(score(vae, data, g3, -1), "score: k = -1 importance samples must not be negative");
}

TEST_CASE("the README's lines for a trained model (\"Using a trained model\") compile and write what they say") {
  Generator gen(6);
  const VAE vae(tiny(), gen);
  const Tensor images = rand({4, 12}, gen), z = randn({2, 3}, gen);
  // --- from README.md ---
  const models::Encoding e = models::encode(vae, images);        // e.loc, e.scale: [N, L]
  const Tensor means = models::decode(vae, z);                   // [N, D]
  const models::Scores s = models::score(vae, images, gen, 100);  // s.elbo, s.loglik: [N]
  models::save_npy("loc.npy", e.loc);
  // --- end ---
  CHECK(means.shape() == Shape{2, 12});
  CHECK(s.loglik.shape() == Shape{4});
  const Tensor back = load_npy_tensor("loc.npy");
  CHECK(back.dtype() == DType::f32);
  CHECK(back.to_vector<float>() == e.loc.to_vector<float>());
}
