// elbo-seqvae: trains and evaluates a sequence VAE (SketchRNN) on handwriting strokes, or with
// --no-latent the same decoder as a plain autoregressive model. The zoo's shared flags (tools/zoo.h) plus the model's
// own; see --help. The last line on stdout is one JSON object with the final figures, in nats per test
// sequence and per point.
#include <elbo/elbo.h>

#include "tasks.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  c.data = "data/strokes";
  c.out = "runs/seqvae";
  c.hidden = 256;
  c.latent = 32;
  c.batch = 64;
  c.epochs = 20;
  c.clip = 1.0;
  models::SeqVaeOptions o;
  std::string cell = "lstm";
  int64_t enc_hidden = 0;
  models::Objective obj{.warmup_steps = 1000, .free_bits = 0.2};
  double temperature = 0.4;
  bool no_latent = false;
  CLI::App app{"elbo-seqvae: train and evaluate a sequence VAE (SketchRNN) on handwriting strokes"};
  zoo::add_common_flags(app, c);
  app.get_option("--data")->description("directory with strokes-{train,valid,test}.bin (elbo-data strokes)");
  app.get_option("--hidden")->description("decoder hidden units");
  app.get_option("--binarize")->description("not used: stroke data is continuous");
  app.add_option("--cell", cell, "lstm | gru (encoder and decoder)")->capture_default_str()->check(CLI::IsMember({"lstm", "gru"}));
  app.add_option("--enc-hidden", enc_hidden, "encoder hidden units per direction (default: --hidden / 2)")
      ->check(CLI::Range(int64_t(1), int64_t(100000)));
  app.add_option("--mixtures", o.mixtures, "bivariate Normals in the offset mixture")->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_flag("--no-latent", no_latent, "the decoder alone: a plain autoregressive model (the baseline)");
  app.add_option("--beta", obj.beta, "weight on the KL term")->capture_default_str()->check(zoo::non_negative_finite());
  app.add_option("--warmup", obj.warmup_steps, "KL annealing: steps over which the KL weight ramps from 0 to beta")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--free-bits", obj.free_bits, "KL floor per latent dim (nats)")->capture_default_str()->check(zoo::non_negative_finite());
  app.add_option("--clip", c.clip, "clip gradients to this global 2-norm (0: off)")->capture_default_str()->check(zoo::non_negative_finite());
  app.add_option("--temperature", temperature, "sampling temperature of samples.png (reconstructions and "
                 "interpolations use half of it)")
      ->capture_default_str()
      ->check(zoo::positive_finite());
  zoo::parse_or_exit(app, argc, argv, "elbo-seqvae");
  c.command = zoo::command_line(argc, argv);
  c.binarize = "none";
  o.cell = models::parse_cell(cell);
  o.latent = c.latent, o.dec_hidden = c.hidden, o.enc_hidden = enc_hidden > 0 ? enc_hidden : std::max(1, c.hidden / 2);
  o.use_latent = !no_latent;
  return zoo::run_main("elbo-seqvae", [&] {
    training::Session s(c, zoo::load_strokes);
    Generator init(c.seed);
    models::SeqVae m(o, init);
    zoo::SeqVaeTask task(zoo::strokes(s), m, obj, no_latent ? 0 : c.iw, temperature);
    training::run(s, task);
    return 0;
  });
}
