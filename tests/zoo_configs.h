#pragma once
// The zoo's VAE configurations, each one elbo-vae flag away from the default MLP VAE (784-400-20,
// diagonal q, N(0, I) prior, Bernoulli likelihood): "flow=sylvester:4" is --flow sylvester:4 and
// "likelihood=categorical:256" is --likelihood categorical --levels 256. The step benchmarks
// (bench/bench_models.cpp, BM_ZooStep/<key>/<batch>/<threads>) and the allocation test
// (tests/models/test_alloc.cpp) walk this one list; bench/torch_families.py and bench/torch_heads.py hold
// the PyTorch twins under the same keys.
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "models/dataset.h"
#include "models/vae.h"

namespace elbo::testing {

inline constexpr std::array<std::string_view, 17> kZooConfigs = {
    "posterior=diagonal",    "posterior=full",        "posterior=lowrank:4",  "flow=planar:4",
    "flow=radial:4",         "flow=householder:4",    "flow=iaf:4",           "flow=sylvester:4",
    "flow=tsylvester:4",     "prior=mog:10",          "prior=flow:4",         "likelihood=gaussian",
    "likelihood=continuous-bernoulli", "likelihood=categorical:256", "likelihood=discretized-logistic",
    "likelihood=flow",       "arch=conv"};

// The model options of a key (an Error for a key this list does not hold).
inline models::VaeOptions zoo_options(std::string_view key) {
  const size_t eq = key.find('=');
  if (eq == std::string_view::npos) throw ValueError("zoo_options: '" + std::string(key) + "' is not flag=value");
  const std::string_view flag = key.substr(0, eq), value = key.substr(eq + 1);
  models::VaeOptions o;
  if (flag == "posterior") {
    o.posterior = models::parse_posterior(value);
  } else if (flag == "flow") {
    o.flow = models::parse_flow(value);
  } else if (flag == "prior") {
    o.prior = models::parse_prior(value);
  } else if (flag == "arch") {
    o.arch = models::parse_arch(value);
  } else if (flag == "likelihood") {
    const size_t colon = value.find(':');
    o.likelihood.kind = models::parse_likelihood(value.substr(0, colon));
    if (colon != std::string_view::npos) o.likelihood.levels = std::stoll(std::string(value.substr(colon + 1)));
  } else {
    throw ValueError("zoo_options: no flag '" + std::string(flag) + "'");
  }
  return o;
}

// A batch of the data elbo-vae trains that configuration on by default: binarized pixels for the
// Bernoulli likelihood (--binarize dynamic), 8-bit pixels / 255 for the others (--binarize none).
inline Tensor zoo_input(const models::VaeOptions& o, int64_t batch, Generator& gen) {
  const Tensor u = rand({batch, o.height * o.width}, gen);
  if (o.likelihood.kind == models::LikelihoodKind::bernoulli) return bernoulli(u, gen);
  std::vector<double> v = u.to_vector<double>();
  for (double& p : v) p = std::min(std::floor(p * 256.0), 255.0) / 255.0;
  return tensor(v, {batch, o.height * o.width});
}

}  // namespace elbo::testing
