// elbo-ssvae: Kingma et al. 2014's semi-supervised VAE M2 on labelled images of which only --labels N keep
// their labels (balanced across classes, drawn by the seed); the rest are unlabelled and the class is summed
// out of their ELBO. Reports the classifier's test error beside the ELBO (y summed out, and at the labels).
// The zoo's shared flags (tools/zoo.h) plus the model's own; see --help.
#include <cstdio>
#include <elbo/elbo.h>

#include "ssvae_task.h"
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
                 "paper's alpha = 0.1 N is 0.1; 1 learns faster from few labels, bench/RESULTS.md)")
      ->capture_default_str()
      ->check(zoo::non_negative_finite());
  app.add_option("--labelled-batch", obj.labelled_batch, "labelled examples drawn for each step")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  app.add_option("--classifier-hidden", classifier_hidden, "hidden units of the classifier q(y|x)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  std::string m1_path;
  app.add_option("--m1", m1_path, "M1 + M2: train M2 on the latent features of this trained elbo-vae MLP model "
                 "(model.safetensors; its sizes are read from it): z1 drawn afresh from M1's q(z1|x) for each batch, "
                 "the test set at its means, M1's dimensions whose mean varies (std > 0.1) kept; p(z1|y, z2) "
                 "Gaussian with a learned std unless --likelihood says otherwise");
  zoo::parse_or_exit(app, argc, argv, "elbo-ssvae");
  if (!m1_path.empty() && app.count("--likelihood") == 0) model.name = "gaussian", model.likelihood.learned_std = true;
  if (!m1_path.empty() && model.arch != "mlp") {
    std::fprintf(stderr, "elbo-ssvae: --m1 trains M2 on feature vectors: --arch mlp only (see --help)\n");
    return 2;
  }
  // the paper's sizes (section 4.2: 50 latent dimensions, 500 hidden units) unless given
  if (app.count("--latent") == 0) c.latent = 50;
  if (app.count("--hidden") == 0) c.hidden = 500;
  if (app.count("--batch") == 0) c.batch = 100;
  if (model.name != "bernoulli" && app.count("--binarize") == 0) c.binarize = "none";
  c.command = zoo::command_line(argc, argv);
  return zoo::run_main("elbo-ssvae", [&] {
    std::unique_ptr<models::VAE> m1;
    std::unique_ptr<zoo::M1Features> features;
    auto load = [&](const training::Options& opt) -> std::shared_ptr<const training::RunData> {
      std::shared_ptr<const training::RunData> pixels = training::load_images(opt);
      if (m1_path.empty()) return pixels;
      const auto* images = dynamic_cast<const training::ImageData*>(pixels.get());
      ELBO_CHECK(images, "--m1: {} is not image data", opt.data);
      m1 = zoo::load_mlp_vae(m1_path, images->train.height, images->train.width);
      features = std::make_unique<zoo::M1Features>(*m1, *images);
      return features->data();
    };
    training::Session s(c, load);
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
    if (features) task.show_with([&](const Tensor& f) { return features->images(f); }, features->height(), features->width());
    training::run(s, task);
    return 0;
  });
}
