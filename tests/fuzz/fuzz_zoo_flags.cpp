// libFuzzer target: the zoo binaries' shared flags (tools/zoo.h add_common_flags, and the model flags of
// tools/zoo.h ModelFlags) parsed by zoo::parse_flags, which is parse_or_exit without the exit. The input is argv[1..], the arguments
// separated by NUL bytes. The promise: a command line is accepted with every value inside its documented
// range, or answered with the help (status 0) or one line on stderr (status 2); nothing else escapes.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fuzz_input.h"
#include "tools/zoo.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace elbo;
  std::vector<std::string> args{"elbo-fuzz"};
  std::string arg;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) args.push_back(std::exchange(arg, {}));
    else arg += char(data[i]);
  }
  if (size > 0) args.push_back(arg);
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());

  zoo::Config c;
  CLI::App app{"fuzz"};
  zoo::add_common_flags(app, c);
  zoo::ModelFlags model;
  model.add(app);
  std::ostringstream out, err;
  const std::optional<int> status = zoo::parse_flags(app, int(argv.size()), argv.data(), "elbo-fuzz", out, err);
  const std::string o = out.str(), e = err.str();
  if (!status) {
    auto in = [](auto v, auto lo, auto hi) { return v >= lo && v <= hi; };
    if (!in(c.epochs, 0, 100000) || !in(c.batch, 1, 1 << 20) || !in(c.latent, 1, 100000) ||
        !in(c.hidden, 1, 1000000) || !in(c.threads, 0, 1024) || !in(c.iw, 0, 100000) || c.limit < 0)
      fuzz::broken(fmt::format("accepted out-of-range values: epochs {} batch {} latent {} hidden {} threads {} iw {} "
                               "limit {}", c.epochs, c.batch, c.latent, c.hidden, c.threads, c.iw, c.limit));
    if (!(std::isfinite(c.lr) && c.lr > 0)) fuzz::broken(fmt::format("accepted --lr {}", c.lr));
    const auto listed = [](const std::vector<std::string>& values, const std::string& v) {
      return std::find(values.begin(), values.end(), v) != values.end();
    };
    if (!listed(zoo::binarize_modes(), c.binarize)) fuzz::broken(fmt::format("accepted --binarize '{}'", c.binarize));
    if (model.arch != "mlp" && model.arch != "conv") fuzz::broken(fmt::format("accepted --arch '{}'", model.arch));
    if (!listed(zoo::likelihood_names(), model.name))
      fuzz::broken(fmt::format("accepted --likelihood '{}'", model.name));
    if (!o.empty() || !e.empty()) fuzz::broken("output on a good command line");
  } else if (*status == 0) {
    if (o.find("--data") == std::string::npos || !e.empty()) fuzz::broken("status 0 without the help");
  } else if (*status == 2) {
    if (!o.empty() || e.rfind("elbo-fuzz: ", 0) != 0 || e.find('\n') != e.size() - 1)
      fuzz::broken(fmt::format("a bad flag is not answered with one line on stderr: '{}'", e));
  } else {
    fuzz::broken(fmt::format("parse_flags returned {}", *status));
  }
  return 0;
}
