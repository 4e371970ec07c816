#include "zoo.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "autograd/error.h"
#include "parallel/communicator.h"

namespace elbo::zoo {

namespace {
CLI::Validator finite_at_least(double lo, bool strict, const char* name) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "not a number: " + text;
        if (!std::isfinite(v) || v < lo || (strict && v == lo))
          return fmt::format("{} must be a finite number {} {}", text, strict ? ">" : ">=", lo);
        return {};
      },
      name);
}
}  // namespace

CLI::Validator positive_finite() { return finite_at_least(0, true, "POSITIVE"); }
CLI::Validator non_negative_finite() { return finite_at_least(0, false, "NONNEGATIVE"); }

CLI::Validator parses_with(std::function<void(const std::string&)> parse) {
  return CLI::Validator(
      [parse = std::move(parse)](std::string& v) {
        try {
          parse(v);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      },
      "");
}

void add_common_flags(CLI::App& app, Config& c) {
  app.add_option("--data", c.data, "images: a directory with MNIST-style IDX files (gzipped or plain), a .npy file, or a directory with train.npy [test.npy] (README: Your own data)")->capture_default_str();
  app.add_option("--epochs", c.epochs, "training epochs")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--batch", c.batch, "minibatch size")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--latent", c.latent, "latent dimensions")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--hidden", c.hidden, "hidden units")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--lr", c.lr, "Adam learning rate")->capture_default_str()->check(positive_finite());
  app.add_option("--seed", c.seed, "random seed (initialization, batches, sampling)")->capture_default_str();
  app.add_option("--threads", c.threads, "threads (0: ELBO_NUM_THREADS or all cores)")->check(CLI::Range(0, 1024));
  app.add_option("--binarize", c.binarize, "none | dynamic | threshold | dequantize (uniform noise in each 8-bit bin)")
      ->capture_default_str()
      ->check(CLI::IsMember(binarize_modes()));
  app.add_option("--out", c.out, "output directory (metrics, checkpoints, images)")->capture_default_str();
  app.add_option("--save", c.save, "write the trained model here (safetensors; default OUT/model.safetensors)");
  app.add_option("--load", c.load, "start from this checkpoint");
  app.add_flag("--eval-only", c.eval_only, "evaluate the loaded model, no training");
  app.add_option("--iw", c.iw, "importance-sampled test log-likelihood with K samples")->check(CLI::Range(0, 100000));
  app.add_flag("--resume", c.resume, "continue the run whose checkpoint is in --out");
  app.add_option("--limit", c.limit, "use only the first N train and test examples (0: all)")->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet", c.quiet, "no progress output");
}

std::optional<int> parse_flags(CLI::App& app, int argc, const char* const* argv, const char* prog, std::ostream& out,
                               std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    for (char& ch : msg)
      if (ch == '\n' || ch == '\r') ch = ' ';
    err << prog << ": " << msg << " (see --help)\n";
    return 2;
  }
  return std::nullopt;
}

void parse_or_exit(CLI::App& app, int argc, char** argv, const char* prog) {
  if (const std::optional<int> status = parse_flags(app, argc, argv, prog, std::cout, std::cerr)) std::exit(*status);
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i == 0) a = std::filesystem::path(a).filename().string();
    if (a.find_first_of(" '\"$") != std::string::npos) {
      std::string q = "'";
      for (char ch : a) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
      a = q + "'";
    }
    s += (i ? " " : "") + a;
  }
  return s;
}

int run_main(const char* prog, const std::function<int()>& body) {
  const auto one_line = [](std::string msg) {
    for (char& ch : msg)
      if (ch == '\n') ch = ' ';
    return msg;
  };
  try {
    return body();
  } catch (const parallel::CollectiveError& e) {  // every rank has it: rank 0 says it, all exit cleanly
    if (parallel::world_rank() == 0) std::cerr << prog << ": " << one_line(e.what()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    if (parallel::world_size() > 1) {  // this rank alone: say which, then end the whole job
      std::cerr << prog << ": rank " << parallel::world_rank() << ": " << one_line(e.what()) << std::endl;
      parallel::abort_job(1);
    }
    std::cerr << prog << ": " << one_line(e.what()) << "\n";
    return 1;
  }
}

void ModelFlags::add_families(CLI::App& app) {
  app.add_option("--posterior", posterior, "q(z|x): diagonal | full | lowrank:R (a Gaussian with full or "
                 "rank-R-plus-diagonal covariance)")
      ->capture_default_str()
      ->check(parses_with([](const std::string& v) { models::parse_posterior(v); }));
  app.add_option("--flow", flow, "a normalizing flow refining q(z|x): none | planar:K | radial:K | householder:K | "
                 "iaf:K | sylvester:K | tsylvester:K (K steps, parameters from the encoder)")
      ->capture_default_str()
      ->check(parses_with([](const std::string& v) { models::parse_flow(v); }));
  app.add_option("--prior", prior, "p(z): normal | mog:K (a learned mixture of K Gaussians) | flow:K (a learned "
                 "masked autoregressive flow, K steps)")
      ->capture_default_str()
      ->check(parses_with([](const std::string& v) { models::parse_prior(v); }));
}

const std::vector<std::string>& binarize_modes() {
  static const std::vector<std::string> modes{"none", "dynamic", "threshold", "dequantize"};
  return modes;
}

const std::vector<std::string>& likelihood_names() {
  static const std::vector<std::string> names{"bernoulli",   "gaussian",             "continuous-bernoulli",
                                              "categorical", "discretized-logistic", "flow"};
  return names;
}

CLI::Option* ModelFlags::add(CLI::App& app, const std::vector<std::string>& extra_archs) {
  std::vector<std::string> archs{"mlp", "conv"};
  archs.insert(archs.end(), extra_archs.begin(), extra_archs.end());
  app.add_option("--arch", arch, fmt::format("{}", fmt::join(archs, " | ")))
      ->capture_default_str()
      ->check(CLI::IsMember(archs));
  return app.add_option("--likelihood", name, fmt::format("{}", fmt::join(likelihood_names(), " | ")))
      ->capture_default_str()
      ->check(CLI::IsMember(likelihood_names()));
}

models::VaeOptions ModelFlags::options(const training::Session& s, const Config& c) const {
  const training::ImageData& d = s.images();
  return options(d.train.height, d.train.width, c);
}

models::VaeOptions ModelFlags::options(int64_t height, int64_t width, const Config& c) const {
  models::VaeOptions o;
  o.arch = models::parse_arch(arch), o.hidden = c.hidden, o.latent = c.latent, o.height = height, o.width = width;
  o.likelihood = likelihood;
  o.likelihood.kind = models::parse_likelihood(name);
  o.posterior = models::parse_posterior(posterior);
  o.flow = models::parse_flow(flow);
  o.prior = models::parse_prior(prior);
  return o;
}

}  // namespace elbo::zoo
