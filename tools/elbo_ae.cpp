// elbo-ae: a plain autoencoder trained on the VAE's log-likelihood, for comparison. Its test figure is
// the reconstruction log-likelihood log p(x | decode(encode(x))) (not a bound on log p(x)); it also writes
// decoder outputs for z ~ N(0, I) as samples.png, to show that it reconstructs but does not generate.
#include <elbo/elbo.h>

#include <filesystem>

#include "models/autoencoder.h"
#include "models/image.h"
#include "zoo.h"
#include "zoo_train.h"

using namespace elbo;
namespace fs = std::filesystem;

namespace {
class AeRunner : public zoo::Runner {
 public:
  explicit AeRunner(models::Autoencoder& m) : m_(m) {}
  nn::Module& module() override { return m_; }
  std::string describe() const override { return m_.describe(); }
  const char* figure() const override { return "recon_loglik"; }
  Tensor loss(const Tensor& x, const std::vector<int64_t>&, Generator&, int64_t) override {
    return -mean(m_.log_likelihood(x));
  }
  Tensor score(const Tensor& x, Generator&) override { return m_.log_likelihood(x); }
  void finish(zoo::Session& s, Generator& gen, std::map<std::string, double>&) override {
    const int64_t h = s.test.height, w = s.test.width;
    models::save_image_grid((fs::path(s.cfg.out) / "samples.png").string(), m_.sample_images(64, gen), h, w, 8);
    std::vector<int64_t> pick;
    for (int64_t i = 0; i < 32; ++i) pick.push_back(i * s.test.size() / 32);
    const Tensor x = models::rows(s.test_x, pick, 0, int64_t(pick.size()));
    models::save_image_grid((fs::path(s.cfg.out) / "reconstructions.png").string(), cat({x, m_.reconstruct(x)}, 0), h,
                            w, 8);
  }

 private:
  models::Autoencoder& m_;
};
}  // namespace

int main(int argc, char** argv) {
  zoo::Config c;
  zoo::ModelFlags model;
  CLI::App app{"elbo-ae: train and evaluate a plain autoencoder"};
  zoo::add_common_flags(app, c);
  model.add(app, c);
  zoo::parse_or_exit(app, argc, argv, "elbo-ae");
  return zoo::run_main("elbo-ae", [&] {
    zoo::Session s(c);
    const models::VaeOptions o = model.options(c, s);
    Generator init(c.seed);
    models::Autoencoder ae(o, init);
    AeRunner runner(ae);
    return zoo::run(s, runner);
  });
}
