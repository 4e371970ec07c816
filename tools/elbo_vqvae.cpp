// elbo-vqvae: the VQ-VAE of van den Oord et al. 2017 on images: a convolutional encoder to a grid of codes
// from a learned codebook (nn::VectorQuantizer, EMA by default), a convolutional decoder, trained on
// log p(x | z_q) plus the quantizer's losses. Reports the ELBO under a uniform prior over the codes, the
// reconstruction log-likelihood, the codebook's perplexity and usage. The zoo's shared flags
// (tools/zoo.h) plus the model's own; see --help.
#include <cstdio>
#include <elbo/elbo.h>

#include "vqvae_task.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  models::VqVaeOptions o;
  std::string likelihood = "bernoulli";
  CLI::App app{"elbo-vqvae: train and evaluate a VQ-VAE (discrete latent codes)"};
  zoo::add_common_flags(app, c);
  std::vector<std::string> heads;
  for (const auto& n : zoo::likelihood_names())
    if (n != "flow") heads.push_back(n);
  app.add_option("--likelihood", likelihood, fmt::format("{}", fmt::join(heads, " | ")))
      ->capture_default_str()
      ->check(CLI::IsMember(heads));
  app.add_option("--codes", o.codes, "codebook size K")->capture_default_str()->check(CLI::Range(int64_t(2), int64_t(1) << 16));
  app.add_option("--code-dim", o.code_dim, "dimension D of each code")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 12));
  app.add_option("--downsample", o.downsample, "the encoder's downsampling: 4 (a 28x28 image to 7x7 codes) or 2 (14x14)")
      ->capture_default_str()
      ->check(CLI::IsMember({int64_t(2), int64_t(4)}));
  app.add_option("--commitment", o.quantizer.commitment, "beta, the weight of the encoder's commitment loss")
      ->capture_default_str()
      ->check(zoo::non_negative_finite());
  app.add_option("--ema-decay", o.quantizer.ema_decay, "decay of the codebook's moving averages; 0: the codebook is "
                 "learned by its loss instead")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9999));
  // restarts on by default: on 6,000 digits for 3 epochs, 13 of 128 codes stayed in use without them (test
  // log p(x | z_q) -83.4 nats), all 128 with them (-67.4)
  o.quantizer.restart_after = 20;
  app.add_option("--restart-after", o.quantizer.restart_after, "restart a code unused for this many steps onto a "
                 "vector of the batch (0: never)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(0), int64_t(1) << 40));
  zoo::parse_or_exit(app, argc, argv, "elbo-vqvae");
  if (app.count("--latent") || app.count("--iw")) {
    std::fprintf(stderr, "elbo-vqvae: %s has no meaning for a VQ-VAE (its latent is --codes x --code-dim; its "
                 "posterior is a point, so there is nothing to importance-sample) (see --help)\n",
                 app.count("--latent") ? "--latent" : "--iw");
    return 2;
  }
  if (app.count("--hidden") == 0) c.hidden = 64;
  o.hidden = c.hidden;
  o.likelihood.kind = models::parse_likelihood(likelihood);
  if (likelihood != "bernoulli" && app.count("--binarize") == 0) c.binarize = "none";
  c.command = zoo::command_line(argc, argv);
  return zoo::run_main("elbo-vqvae", [&] {
    training::Session s(c);
    const training::ImageData& d = s.images();
    o.height = d.train.height, o.width = d.train.width;
    Generator init(c.seed);
    models::VqVae m(o, init);
    zoo::VqVaeTask task(m);
    training::run(s, task);
    return 0;
  });
}
