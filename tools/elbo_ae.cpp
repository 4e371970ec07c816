// elbo-ae: a plain autoencoder trained on the VAE's log-likelihood, for comparison. Its test figure is
// the reconstruction log-likelihood log p(x | decode(encode(x))) (not a bound on log p(x)); it also writes
// decoder outputs for z ~ N(0, I) as samples.png, to show that it reconstructs but does not generate.
#include <elbo/elbo.h>

#include "tasks.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  CLI::App app{"elbo-ae: train and evaluate a plain autoencoder"};
  zoo::add_common_flags(app, c);
  model.add(app);
  zoo::parse_or_exit(app, argc, argv, "elbo-ae");
  c.command = zoo::command_line(argc, argv);
  return zoo::run_main("elbo-ae", [&] {
    training::Session s(c);
    Generator init(c.seed);
    models::Autoencoder ae(model.options(s, c), init);
    zoo::AutoencoderTask task(ae);
    training::run(s, task);
    return 0;
  });
}
