// elbo-vae: trains and evaluates a VAE (MLP or convolutional) on MNIST-style data, or with --load runs a trained
// one over data: --encode, --decode, --score (tools/export.h).
// The zoo's shared flags (tools/zoo.h) plus the model's own; see --help. The last line on stdout is one JSON object
// with the final figures (per example, in nats, under the named likelihood and data).
#include <cstdio>
#include <elbo/elbo.h>
#include <tuple>

#include "export.h"
#include "training/tasks.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  models::Objective obj;
  CLI::App app{"elbo-vae: train and evaluate a variational autoencoder"};
  zoo::add_common_flags(app, c);
  int64_t stochastic_layers = 1;
  model.add(app, {"burda"})->description(
      "bernoulli | gaussian | continuous-bernoulli | categorical | discretized-logistic | flow (all but bernoulli "
      "default to --binarize none; flow defaults to --lr 3e-4)");
  app.add_option("--levels", model.likelihood.levels, "categorical: intensity levels K")->capture_default_str()->check(CLI::Range(2, 256));
  app.add_option("--gaussian-std", model.likelihood.gaussian_std, "gaussian: fixed std")->capture_default_str()->check(zoo::positive_finite());
  app.add_flag("--learned-std", model.likelihood.learned_std, "gaussian: the decoder also outputs a log-std per pixel");
  app.add_option("--coupling-steps", model.likelihood.coupling_steps, "flow: affine coupling steps of p(x|z)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  model.add_families(app);
  app.add_option("--stochastic-layers", stochastic_layers, "burda: stochastic layers, 1 or 2 (Burda et al. 2016, section 5)")
      ->capture_default_str();
  std::string burda_scale = "exp", output_bias = "data-mean";
  app.add_option("--burda-scale", burda_scale, "burda: the Gaussian layers' scale, exp or softplus of the head (Burda "
                 "et al.'s code: exp)")
      ->capture_default_str()
      ->check(zoo::parses_with([](const std::string& v) { models::parse_scale_link(v); }));
  app.add_option("--output-bias", output_bias, "burda: the decoder's output bias starts at the logit of the training "
                 "mean (data-mean, Burda et al.'s code) or at zero")
      ->capture_default_str()
      ->check(CLI::IsMember({"data-mean", "zero"}));
  app.add_option("--schedule", c.schedule, "a learning-rate schedule that also sets the epochs: burda (3^i passes at "
                 "1e-3 * 10^(-i/7), i = 0..7; batch 20, Adam beta1 0.99 and eps 1e-4 unless given) or burda:I (stages "
                 "0..I only)")
      ->check(zoo::parses_with([](const std::string& v) { training::parse_schedule(v); }));
  app.add_option("--adam-beta1", c.adam_beta1, "Adam's beta1")->capture_default_str()->check(CLI::Range(0.0, 0.999999));
  app.add_option("--adam-eps", c.adam_eps, "Adam's epsilon")->capture_default_str()->check(zoo::positive_finite());
  app.add_option("--beta", obj.beta, "weight on the KL term")->capture_default_str()->check(zoo::non_negative_finite());
  app.add_option("--warmup", obj.warmup_steps, "KL warm-up: steps over which the KL weight ramps from 0 to beta")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--free-bits", obj.free_bits, "free bits per latent dim (nats)")->check(zoo::non_negative_finite());
  app.add_option("--samples", obj.samples, "reparameterized samples per ELBO estimate")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_option("--iw-train", obj.iw, "train on the K-sample IWAE bound")->check(CLI::Range(0, 5000));
  std::string condition = "none";
  app.add_option("--condition", condition, "label: a conditional VAE, q(z|x, y) and p(x|z, y) given each image's "
                 "label (the data's label files; samples.png draws one row per class)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "label"}));
  zoo::ExportRequest ex;
  app.add_option("--encode", ex.encode, "with --load, no training: write each example of DATA (any --data layout) as "
                 "q(z|x)'s loc and scale, in data order, to OUT/*.npy and OUT/encoded.safetensors");
  app.add_option("--decode", ex.decode, "with --load, no training: write the means of p(x|z) for the latents of Z.npy "
                 "[N, latent] to OUT/decoded.npy and OUT/decoded.png");
  app.add_option("--score", ex.score, "with --load, no training: write each example's ELBO of DATA (and with --iw K "
                 "its log-likelihood estimate) to OUT/*elbo.npy (and *loglik.npy)");
  zoo::parse_or_exit(app, argc, argv, "elbo-vae");
  const bool exporting = !ex.encode.empty() || !ex.decode.empty() || !ex.score.empty();
  if (exporting && (c.load.empty() || c.resume || c.eval_only)) {
    std::fprintf(stderr, "elbo-vae: --encode, --decode and --score use a trained model: give --load M, without "
                 "--resume or --eval-only (see --help)\n");
    return 2;
  }
  if (obj.free_bits > 0 && (model.posterior != "diagonal" || model.flow != "none" || model.prior != "normal")) {
    std::fprintf(stderr, "elbo-vae: --free-bits needs --posterior diagonal, no --flow and --prior normal (a KL per "
                 "latent dim)\n");
    return 2;
  }
  const bool burda = model.arch == "burda";
  const bool conditional = condition == "label";
  if (conditional && (burda || exporting)) {
    std::fprintf(stderr, "elbo-vae: --condition label builds the mlp or conv VAE and trains or evaluates it; it does "
                 "not take %s (see --help)\n", burda ? "--arch burda" : "--encode, --decode or --score yet");
    return 2;
  }
  if (burda) {  // the paper's architecture is fixed: refuse what would change it
    for (const char* flag : {"--latent", "--hidden", "--posterior", "--flow", "--prior", "--likelihood"})
      if (app.count(flag) > 0) {
        std::fprintf(stderr, "elbo-vae: --arch burda fixes its layers, posterior, prior and Bernoulli likelihood; "
                     "drop %s (see --help)\n", flag);
        return 2;
      }
  }
  for (const char* flag : {"--burda-scale", "--output-bias"})
    if (app.count(flag) > 0 && !burda) {
      std::fprintf(stderr, "elbo-vae: %s needs --arch burda (see --help)\n", flag);
      return 2;
    }
  if (app.count("--stochastic-layers") > 0 && (!burda || stochastic_layers < 1 || stochastic_layers > 2)) {
    std::fprintf(stderr, "elbo-vae: --stochastic-layers %lld: %s (see --help)\n", static_cast<long long>(stochastic_layers),
                 burda ? "--arch burda builds 1 or 2 stochastic layers" : "needs --arch burda");
    return 2;
  }
  if (!c.schedule.empty()) {
    if (app.count("--epochs") > 0) {
      std::fprintf(stderr, "elbo-vae: --schedule %s sets the epochs; drop --epochs (see --help)\n", c.schedule.c_str());
      return 2;
    }
    // Burda et al. 2016 train with minibatches of 20 and Adam eps 1e-4; their code's beta1 is 0.99 (the text says 0.9)
    if (app.count("--batch") == 0) c.batch = 20;
    if (app.count("--adam-beta1") == 0) c.adam_beta1 = 0.99;
    if (app.count("--adam-eps") == 0) c.adam_eps = 1e-4;
  }
  c.command = zoo::command_line(argc, argv);
  // Binarizing suits the Bernoulli likelihood; the others model intensities, so they see the grayscale
  // pixels unless --binarize says otherwise.
  if (model.name != "bernoulli" && app.count("--binarize") == 0) c.binarize = "none";
  // The flow likelihood's couplings train unstably at Adam 1e-3 (bench/RESULTS.md: 4.30-4.98 bits per
  // dimension between epochs on Fashion-MNIST, 4.18 and falling every epoch at 3e-4).
  if (model.name == "flow" && app.count("--lr") == 0) c.lr = 3e-4;
  return zoo::run_main("elbo-vae", [&] {
    if (exporting) {  // the model's image size from the data it reads (--decode alone: from --data)
      if (c.threads > 0) set_num_threads(c.threads);
      std::tie(ex.height, ex.width) = zoo::image_size(!ex.encode.empty() ? ex.encode : !ex.score.empty() ? ex.score : c.data);
      ex.iw = c.iw, ex.binarize = c.binarize, ex.seed = c.seed, ex.out = c.out;
      Generator init(c.seed);
      if (burda) {
        const auto m = models::make_burda(stochastic_layers, ex.height * ex.width, init,
                                          models::parse_scale_link(burda_scale));
        nn::load(*m, c.load);
        ex.model = m->describe();
        zoo::export_model(*m, ex);
      } else {
        models::VAE vae(model.options(ex.height, ex.width, c), init);
        nn::load(vae, c.load);
        ex.model = vae.describe();
        zoo::export_model(vae, ex);
      }
      return 0;
    }
    training::Session s(c);
    Generator init(c.seed);
    if (burda) {
      std::unique_ptr<models::HierarchicalVae> m =
          models::make_burda(stochastic_layers, s.images().train.dim(), init, models::parse_scale_link(burda_scale));
      // the output bias starts at the logit of the training digits' mean, as in Burda et al.'s code
      if (output_bias == "data-mean") models::init_output_bias(*m, models::mean_image(s.images().train));
      // every term by Monte Carlo on the step's samples, the one-layer KL too, as Burda et al.'s code scores it
      obj.kl = models::KlEstimate::monte_carlo;
      training::VaeTask task(*m, obj, c.iw);
      training::run(s, task);
      return 0;
    }
    models::VaeOptions vo = model.options(s, c);
    if (conditional) {  // the classes the data's labels name
      vo.condition = training::label_classes(s.images(), "elbo-vae --condition label");
      models::VAE vae(vo, init);
      training::ConditionalVaeTask task(vae, s.images(), obj, c.iw);
      training::run(s, task);
      return 0;
    }
    models::VAE vae(vo, init);
    training::VaeTask task(vae, obj, c.iw);
    training::run(s, task);
    return 0;
  });
}
