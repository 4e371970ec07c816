#pragma once
// What every zoo binary shares at the command line's edge: the shared flags (typed, parsed with CLI11)
// and the "one clear line, exit 2 for bad flags, exit 1 for bad data" rule. Training, checkpoints and
// reports are the training library's (training/).
#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "models/vae.h"
#include "training/trainer.h"

namespace elbo::zoo {

// The shared flags: training's options, and the network sizes every zoo model reads.
struct Config : training::Options {
  int latent = 20;   // --latent
  int hidden = 400;  // --hidden
};

// The values --binarize and --likelihood accept: the parser's lists (and the flag fuzzer's oracle).
const std::vector<std::string>& binarize_modes();
const std::vector<std::string>& likelihood_names();

// --arch and --likelihood (and the likelihood's settings, which binaries bind to `likelihood`'s fields).
struct ModelFlags {
  std::string arch = "mlp";              // --arch
  std::string name = "bernoulli";        // --likelihood
  std::string posterior = "diagonal";    // --posterior (elbo-vae adds the flag)
  std::string flow = "none";             // --flow (elbo-vae adds the flag)
  std::string prior = "normal";          // --prior (elbo-vae adds the flag)
  models::LikelihoodOptions likelihood;  // its settings; the kind comes from `name`
  // Adds --posterior, --flow and --prior (the VAE's families; elbo-vae and elbo-vi --gap).
  void add_families(CLI::App& app);
  // Adds --arch (mlp | conv, and the binary's own extra architectures) and --likelihood; returns the
  // latter, for a binary to extend its help.
  CLI::Option* add(CLI::App& app, const std::vector<std::string>& extra_archs = {});
  // The model's options for these flags and c's sizes, fitted to the session's images.
  models::VaeOptions options(const training::Session& s, const Config& c) const;
  models::VaeOptions options(int64_t height, int64_t width, const Config& c) const;  // images of that size
};

// Validators for real-valued flags. CLI::PositiveNumber and CLI::NonNegativeNumber let "nan" through
// (NaN <= 0 is false; found by tests/fuzz/fuzz_zoo_flags.cpp); these refuse NaN and infinities as well.
CLI::Validator positive_finite();
CLI::Validator non_negative_finite();
// Accepts a value when parse(value) does not throw; the elbo::Error's message is CLI11's error.
CLI::Validator parses_with(std::function<void(const std::string&)> parse);

// Adds the shared flags to app (binary-specific flags are added by the caller before or after).
void add_common_flags(CLI::App& app, Config& c);

// Parses argv without exiting: std::nullopt to go on; otherwise the status to exit with, its text already
// written: the help on `out` and 0 for --help, one line "prog: what (see --help)" on `err` and 2 for a bad
// flag. Anything CLI11 throws is one of those two (tests/fuzz/fuzz_zoo_flags.cpp holds it to that).
std::optional<int> parse_flags(CLI::App& app, int argc, const char* const* argv, const char* prog, std::ostream& out,
                               std::ostream& err);
// parse_flags on std::cout and std::cerr, exiting with its status unless the flags are good.
void parse_or_exit(CLI::App& app, int argc, char** argv, const char* prog);
// argv as a shell line (arguments with spaces or quotes single-quoted), for the run's README.md.
std::string command_line(int argc, char** argv);

// Runs body, turning elbo::Error and std::exception into one line on stderr and exit code 1.
int run_main(const char* prog, const std::function<int()>& body);

}  // namespace elbo::zoo
