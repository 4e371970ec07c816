// elbo-vae: trains and evaluates a VAE (MLP or convolutional) on MNIST-style data.
// DESIGN.md's shared flags plus the model's own; see --help. The last line on stdout is one JSON object
// with the final figures (per example, in nats, under the named likelihood and data).
#include <cstdio>
#include <elbo/elbo.h>

#include "training/tasks.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  models::Objective obj;
  CLI::App app{"elbo-vae: train and evaluate a variational autoencoder"};
  zoo::add_common_flags(app, c);
  model.add(app)->description(
      "bernoulli | gaussian | continuous-bernoulli | categorical | discretized-logistic | flow (all but bernoulli "
      "default to --binarize none; flow defaults to --lr 3e-4)");
  app.add_option("--levels", model.likelihood.levels, "categorical: intensity levels K")->capture_default_str()->check(CLI::Range(2, 256));
  app.add_option("--gaussian-std", model.likelihood.gaussian_std, "gaussian: fixed std")->capture_default_str()->check(zoo::positive_finite());
  app.add_flag("--learned-std", model.likelihood.learned_std, "gaussian: the decoder also outputs a log-std per pixel");
  app.add_option("--coupling-steps", model.likelihood.coupling_steps, "flow: affine coupling steps of p(x|z)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  model.add_families(app);
  app.add_option("--beta", obj.beta, "weight on the KL term")->capture_default_str()->check(zoo::non_negative_finite());
  app.add_option("--warmup", obj.warmup_steps, "KL warm-up: steps over which the KL weight ramps from 0 to beta")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--free-bits", obj.free_bits, "free bits per latent dim (nats)")->check(zoo::non_negative_finite());
  app.add_option("--samples", obj.samples, "reparameterized samples per ELBO estimate")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--iw-train", obj.iw, "train on the K-sample IWAE bound")->check(CLI::Range(0, 5000));
  zoo::parse_or_exit(app, argc, argv, "elbo-vae");
  if (obj.free_bits > 0 && (model.posterior != "diagonal" || model.flow != "none" || model.prior != "normal")) {
    std::fprintf(stderr, "elbo-vae: --free-bits needs --posterior diagonal, no --flow and --prior normal (a KL per "
                 "latent dim)\n");
    return 2;
  }
  c.command = zoo::command_line(argc, argv);
  // Binarizing suits the Bernoulli likelihood; the others model intensities, so they see the grayscale
  // pixels unless --binarize says otherwise.
  if (model.name != "bernoulli" && app.count("--binarize") == 0) c.binarize = "none";
  // The flow likelihood's couplings train unstably at Adam 1e-3 (bench/RESULTS.md: 4.30-4.98 bits per
  // dimension between epochs on Fashion-MNIST, 4.18 and falling every epoch at 3e-4).
  if (model.name == "flow" && app.count("--lr") == 0) c.lr = 3e-4;
  return zoo::run_main("elbo-vae", [&] {
    training::Session s(c);
    Generator init(c.seed);
    models::VAE vae(model.options(s), init);
    training::VaeTask task(vae, obj, c.iw);
    training::run(s, task);
    return 0;
  });
}
