// elbo-ssvae: Kingma et al. 2014's semi-supervised VAE M2 on labelled images of which only --labels N keep
// their labels (balanced across classes, drawn by the seed); the rest are unlabelled and the class is summed
// out of their ELBO. Reports the classifier's test error beside the ELBO (y summed out, and at the labels).
// The zoo's shared flags (tools/zoo.h) plus the model's own; see --help.
#include <cstdio>
#include <elbo/elbo.h>

#include "tasks.h"
#include "zoo.h"

using namespace elbo;

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  zoo::SsvaeObjective obj;
  int64_t labels = 100, classes = 0, classifier_hidden = 500;
  CLI::App app{"elbo-ssvae: semi-supervised VAE (M2 of Kingma et al. 2014) from a few labels"};
  zoo::add_common_flags(app, c);
  model.add(app);
  model.add_families(app);
  app.add_option("--labels", labels, "labelled training examples, balanced across classes (drawn by --seed); the "
                 "others are unlabelled")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  app.add_option("--classes", classes, "classes (default: 1 + the largest training label); a label outside them is "
                 "an error")
      ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  app.add_option("--alpha", obj.alpha, "weight of the labelled examples' classification term, per example (the "
                 "paper's alpha = 0.1 N)")
      ->capture_default_str()
      ->check(zoo::non_negative_finite());
  app.add_option("--labelled-batch", obj.labelled_batch, "labelled examples drawn for each step")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  app.add_option("--classifier-hidden", classifier_hidden, "hidden units of the classifier q(y|x)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  zoo::parse_or_exit(app, argc, argv, "elbo-ssvae");
  // the paper's sizes (section 4.2: 50 latent dimensions, 500 hidden units) unless given
  if (app.count("--latent") == 0) c.latent = 50;
  if (app.count("--hidden") == 0) c.hidden = 500;
  if (app.count("--batch") == 0) c.batch = 100;
  if (model.name != "bernoulli" && app.count("--binarize") == 0) c.binarize = "none";
  c.command = zoo::command_line(argc, argv);
  return zoo::run_main("elbo-ssvae", [&] {
    training::Session s(c);
    const training::ImageData& d = s.images();
    const int64_t found = training::label_classes(d, "elbo-ssvae");
    if (classes == 0) classes = found;
    ELBO_CHECK(found <= classes, "elbo-ssvae: --classes {}, but the training labels run 0..{}", classes, found - 1);
    models::SsvaeOptions o;
    o.vae = model.options(s, c), o.classes = classes, o.classifier_hidden = classifier_hidden;
    Generator init(c.seed);
    models::SemiSupervisedVae m(o, init);
    Generator pick(c.seed + 1000003);  // the labelled subset: its own stream, so it is the same on every rank
    std::vector<int64_t> labelled = models::balanced_labelled_subset(d.train.labels, classes, labels, pick);
    zoo::SemiSupervisedTask task(m, d, std::move(labelled), obj, c.iw);
    training::run(s, task);
    return 0;
  });
}
