// The README's VAE example, compiled and run here (on synthetic images) so it cannot rot.
#include <elbo/elbo.h>
#include <models/dataset.h>

#include "test_util.h"

using namespace elbo;

namespace {

// --- from README.md ---
// PyTorch's examples/vae: 784-400-(20 + 20) encoder, 20-400-784 decoder with Bernoulli logits.
struct VAE : nn::Module {
  nn::Linear* fc1 = &register_module("fc1", nn::Linear(784, 400));
  nn::Linear* fc21 = &register_module("fc21", nn::Linear(400, 20));
  nn::Linear* fc22 = &register_module("fc22", nn::Linear(400, 20));
  nn::Linear* fc3 = &register_module("fc3", nn::Linear(20, 400));
  nn::Linear* fc4 = &register_module("fc4", nn::Linear(400, 784));

  // The negative ELBO in nats per example: one reparameterized sample of z, the KL in closed form.
  Tensor loss(const Tensor& x, Generator& gen) const {
    Tensor h = relu(fc1->forward(x));
    dist::Normal q(fc21->forward(h), exp(0.5 * fc22->forward(h)));  // q(z|x); exp keeps the scale > 0
    dist::Normal prior(zeros_like(q.loc()), ones_like(q.loc()));
    Tensor logits = fc4->forward(relu(fc3->forward(q.rsample(gen))));
    Tensor nll = binary_cross_entropy_with_logits(logits, x, Reduction::sum);
    return (nll + sum(dist::kl_divergence(q, prior))) / double(x.size(0));
  }
};
// --- end ---

}  // namespace

TEST_CASE("the README's VAE trains and saves under examples/vae's names") {
  Generator gen(1);
  VAE vae;
  optim::Adam opt(vae.parameters(), {.lr = 1e-3});
  // 512 images: each pixel on with a probability that depends on its column
  std::vector<double> p(784);
  for (size_t i = 0; i < 784; ++i) p[i] = (i % 28) < 14 ? 0.9 : 0.05;
  const Tensor images = bernoulli(expand(tensor(p, {1, 784}), {512, 784}), gen);
  double first = 0, last = 0;
  for (int epoch = 1; epoch <= 5; ++epoch) {
    const std::vector<int64_t> order = models::permutation(512, gen);
    for (int64_t i = 0; i < 512; i += 128) {
      const Tensor x = models::rows(images, order, i, i + 128);
      opt.zero_grad();
      const Tensor loss = vae.loss(x, gen);
      loss.backward();
      opt.step();
      if (epoch == 1 && i == 0) first = loss.item();
      last = loss.item();
    }
  }
  INFO("loss ", first, " -> ", last);
  CHECK(first > 400);  // about 784 log 2 = 543 nats at the start
  CHECK(last < 330);   // the pixels' own entropy is 784/2 (H(0.9) + H(0.05)) = 226 nats
  CHECK(vae.named_parameters()[2].first == "fc21.weight");
}
