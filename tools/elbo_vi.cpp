// elbo-vi: non-amortized variational inference.
//   default      train a decoder jointly with per-example q(z | x_i) = N(mu_i, exp(logvar_i)) for every
//                training example (--local-steps updates of a batch's posteriors per visit, the last one
//                joint with the decoder; checkpoints keep the posteriors, so --resume continues them);
//                test figures come from test-time optimization of q for each test example under the
//                trained decoder (--vi-steps Adam steps), and its cost per example.
//   --gap        the amortization-gap report for a trained VAE (--load its checkpoint; the same --arch,
//                --hidden, --latent, --likelihood as it was trained with): per test example the encoder's
//                ELBO, the ELBO of q optimized from the encoder's output, and an IWAE estimate of log p(x)
//                (--iw K, default 1000); approximation and amortization gaps with standard errors.
#include <cstdio>
#include <elbo/elbo.h>

#include <iostream>

#include "tasks.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  bool gap = false;
  zoo::ViOptions vi;
  CLI::App app{"elbo-vi: non-amortized variational inference, and the amortization-gap report for a trained VAE"};
  zoo::add_common_flags(app, c);
  model.add(app);
  model.add_families(app);
  app.add_flag("--gap", gap, "amortization-gap report for the VAE given by --load (with its --posterior, --flow, "
               "--prior: the gaps are within that family)");
  app.add_option("--vi-steps", vi.test_steps, "Adam steps of per-example optimization at test time")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--local-steps", vi.local_steps, "updates of a batch's posteriors per visit (the last one joint with the decoder)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--local-lr", vi.local_lr, "learning rate of the per-example parameters, in training and in test-time inference (--gap starts from the encoder and keeps 0.01)")->capture_default_str()->check(zoo::positive_finite());
  zoo::parse_or_exit(app, argc, argv, "elbo-vi");
  if (!gap && (model.posterior != "diagonal" || model.flow != "none" || model.prior != "normal")) {
    std::fprintf(stderr, "elbo-vi: --posterior, --flow and --prior describe the VAE that --gap loads; training keeps "
                 "diagonal per-example posteriors under N(0, I)\n");
    return 2;
  }
  c.command = zoo::command_line(argc, argv);
  return zoo::run_main("elbo-vi", [&] {
    training::Session s(c);
    const models::VaeOptions o = model.options(s, c);
    Generator init(c.seed);
    if (gap) {
      if (c.load.empty()) throw ValueError("--gap needs --load with a trained VAE checkpoint");
      models::VAE vae(o, init);
      nn::load(vae, c.load);
      Generator gen(c.seed + 3);
      const auto r = models::amortization_gap(vae, s.images().test_x, gen, vi.test_steps, c.iw > 0 ? c.iw : 1000);
      std::cerr << fmt::format(
          "{} on {}: over {} test examples\n  log p(x) (IWAE K={})      {:.2f}\n  ELBO, optimized q         {:.2f}\n"
          "  ELBO, encoder q           {:.2f}\n  approximation gap         {:.2f} +- {:.2f} nats\n"
          "  amortization gap          {:.2f} +- {:.2f} nats\n  cost per example: encoder {:.4f} ms, "
          "{}-step optimization {:.2f} ms\n",
          vae.describe(), s.data_name, r.examples, c.iw > 0 ? c.iw : 1000, r.loglik, r.optimized_elbo, r.encoder_elbo,
          r.approximation_gap, r.approximation_se, r.amortization_gap, r.amortization_se, r.encoder_ms_per_example,
          vi.test_steps, r.optimize_ms_per_example);
      std::cout << training::json_object({{"test_loglik", r.loglik},
                                     {"test_elbo_optimized", r.optimized_elbo},
                                     {"test_elbo_encoder", r.encoder_elbo},
                                     {"approximation_gap", r.approximation_gap},
                                     {"approximation_gap_se", r.approximation_se},
                                     {"amortization_gap", r.amortization_gap},
                                     {"amortization_gap_se", r.amortization_se},
                                     {"encoder_ms_per_example", r.encoder_ms_per_example},
                                     {"optimize_ms_per_example", r.optimize_ms_per_example}},
                                    {{"model", vae.describe()}, {"data", s.data_name}, {"binarize", c.binarize}})
                << "\n";
      return 0;
    }
    models::DecoderModel decoder(o, init);
    zoo::ViTask task(decoder, s.train_size(), vi);
    training::run(s, task);
    return 0;
  });
}
