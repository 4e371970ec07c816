// A user's own VAE, from the installed headers alone: a learned mixture-of-Gaussians prior and a posterior
// family the library has never seen (a diagonal Laplace). The library supplies the ELBO (its KL by Monte
// Carlo, as no closed form is registered for the pair), the IWAE bound, and training with checkpoints,
// metrics and images (training::run). The model is the README's "Your own model" section.
#include <elbo/elbo.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

using namespace elbo;

// --- from README.md ---
// Laplace(loc, scale) per dimension; rsample inverts the CDF of u ~ U(-1/2, 1/2), so it is reparameterized.
struct Laplace {
  Tensor loc, scale;
  const Shape& batch_shape() const { return loc.shape(); }
  Shape event_shape() const { return {}; }
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const {
    Shape s = sample_shape;
    s.insert(s.end(), loc.shape().begin(), loc.shape().end());
    const Tensor u = rand(s, gen, loc.dtype()) - 0.5;
    return loc - scale * sign(u) * log1p(-2.0 * abs(u));
  }
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const {
    NoGradGuard no_grad;
    return rsample(gen, sample_shape).detach();
  }
  Tensor log_prob(const Tensor& x) const { return -abs(x - loc) / scale - log(2.0 * scale); }
  Tensor mean() const { return loc; }
  Tensor variance() const { return 2.0 * square(scale); }
};

// p(z) a learned mixture of K Gaussians, q(z|x) a diagonal Laplace, p(x|z) Bernoulli.
struct MixtureVae : nn::Module, models::AmortizedModel {
  static constexpr int64_t K = 4, L = 2, H = 64;
  nn::Linear& enc = register_module("enc", nn::Linear(784, H));
  nn::Linear& enc_loc = register_module("enc_loc", nn::Linear(H, L));
  nn::Linear& enc_scale = register_module("enc_scale", nn::Linear(H, L));
  nn::Linear& dec = register_module("dec", nn::Linear(L, H));
  nn::Linear& dec_out = register_module("dec_out", nn::Linear(H, 784));
  Tensor mix_logits = register_parameter("prior_logits", zeros({K}));
  Tensor prior_loc = register_parameter("prior_loc", tensor({-1, -1, -1, 1, 1, -1, 1, 1}, {K, L}));
  Tensor prior_log_scale = register_parameter("prior_log_scale", zeros({K, L}));

  dist::AnyDistribution prior() const override {
    return dist::MixtureSameFamily(dist::Categorical(mix_logits),
                                   dist::Independent(dist::Normal(prior_loc, exp(prior_log_scale)), 1));
  }
  dist::AnyDistribution posterior(const Tensor& x) const override {
    const Tensor h = relu(enc.forward(x));
    return dist::Independent(Laplace{enc_loc.forward(h), softplus(enc_scale.forward(h)) + 1e-3}, 1);
  }
  dist::AnyDistribution likelihood(const Tensor& z) const override {
    return dist::Independent(dist::Bernoulli(dec_out.forward(relu(dec.forward(z)))), 1);
  }
};
// --- end of README.md ---

namespace {

// 28x28 images, each a bright bar at a random row or column, written as MNIST-style IDX files.
void write_bars(const std::string& dir) {
  std::filesystem::create_directories(dir);
  Generator gen(1);
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", 256}, {"t10k", 64}}) {
    std::vector<uint8_t> px(size_t(n) * 784, 0);
    for (int64_t i = 0; i < n; ++i) {
      const bool row = gen.uniform() < 0.5;
      const int64_t at = 4 + int64_t(gen.below(20));
      for (int64_t k = 0; k < 28; ++k) px[size_t(i * 784 + (row ? at * 28 + k : k * 28 + at))] = 255;
    }
    models::write_idx(dir + "/" + split + "-images-idx3-ubyte", {n, 28, 28}, px);
  }
}

int fail(const char* what) {
  std::fprintf(stderr, "user_model: %s\n", what);
  return 1;
}

}  // namespace

int main() {
  Generator gen(2);
  MixtureVae vae;
  write_bars("user_model_data");
  const models::Dataset test = models::load_split("user_model_data", "t10k");
  const Tensor x = models::binarize(test.images, models::Binarize::threshold, gen);
  // no closed form for KL(Laplace || mixture): the estimators fall back to Monte Carlo on their own
  if (dist::has_kl(vae.posterior(x), vae.prior())) return fail("expected no closed-form KL");
  double before = 0;
  {
    NoGradGuard no_grad;
    before = mean(models::elbo(vae, x, gen, {.samples = 10}).elbo).item();
    const double iw = mean(models::iwae(vae, x, gen, 50)).item();
    if (!std::isfinite(before) || !(iw > before)) return fail("ELBO or IWAE out of order before training");
  }
  // training from the library: minibatches, Adam, metrics, checkpoints, images, the final JSON line
  training::Session s(training::Options{.data = "user_model_data", .epochs = 8, .batch = 32, .lr = 3e-3,
                                        .binarize = "threshold", .out = "user_model_run", .iw = 20, .quiet = true});
  training::VaeTask task(vae, models::Objective{}, s.opt.iw);
  const std::map<std::string, double> figures = training::run(s, task);
  const double after = figures.at("test_elbo");
  std::printf("user_model: test ELBO %.2f -> %.2f nats, IWAE-20 %.2f, %s\n", before, after, figures.at("test_loglik"),
              task.describe().c_str());
  if (!(after > before + 50)) return fail("training did not raise the ELBO");
  if (!(figures.at("test_loglik") > after)) return fail("the IWAE bound is not above the ELBO");
  for (const char* f : {"checkpoint.safetensors", "model.safetensors", "samples.png", "metrics.jsonl"})
    if (!std::filesystem::exists(std::filesystem::path("user_model_run") / f)) return fail(f);
  return 0;
}
