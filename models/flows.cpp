#include "models/flows.h"

#include <cstdlib>

#include "distributions/autoregressive.h"

namespace elbo::models {

FlowSpec parse_flow(std::string_view s) {
  if (s == "none") return {};
  const size_t colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  FlowSpec f;
  if (kind == "planar") f.kind = FlowSpec::Kind::planar;
  else if (kind == "radial") f.kind = FlowSpec::Kind::radial;
  else if (kind == "householder") f.kind = FlowSpec::Kind::householder;
  else if (kind == "iaf") f.kind = FlowSpec::Kind::iaf;
  if (f.kind != FlowSpec::Kind::none && colon != std::string_view::npos) {
    const std::string k(s.substr(colon + 1));
    char* end = nullptr;
    const long long steps = std::strtoll(k.c_str(), &end, 10);
    if (!k.empty() && *end == '\0' && steps >= 1 && steps <= 256) {
      f.steps = steps;
      return f;
    }
  }
  throw ValueError(fmt::format("--flow: '{}' is not one of none, planar:K, radial:K, householder:K, iaf:K "
                               "(K steps in [1, 256])", s));
}

std::string flow_name(const FlowSpec& f) {
  switch (f.kind) {
    case FlowSpec::Kind::none: return "none";
    case FlowSpec::Kind::planar: return fmt::format("planar:{}", f.steps);
    case FlowSpec::Kind::radial: return fmt::format("radial:{}", f.steps);
    case FlowSpec::Kind::householder: return fmt::format("householder:{}", f.steps);
    case FlowSpec::Kind::iaf: return fmt::format("iaf:{}", f.steps);
  }
  return "";
}

PosteriorFlow::PosteriorFlow(const FlowSpec& spec, int64_t context, int64_t latent, Generator& gen)
    : spec_(spec), latent_(latent) {
  ELBO_CHECK(spec.kind != FlowSpec::Kind::none && spec.steps >= 1, "PosteriorFlow: no flow given ({})",
             flow_name(spec));
  const int64_t l = latent;
  for (int64_t k = 0; k < spec.steps; ++k) {
    const std::string name = std::to_string(k);
    switch (spec.kind) {
      case FlowSpec::Kind::planar: heads_.push_back(&register_module(name, nn::Linear(context, 2 * l + 1, gen))); break;
      case FlowSpec::Kind::radial: heads_.push_back(&register_module(name, nn::Linear(context, l + 2, gen))); break;
      case FlowSpec::Kind::householder: heads_.push_back(&register_module(name, nn::Linear(context, l, gen))); break;
      case FlowSpec::Kind::iaf:
        made_.push_back(&register_module(name, nn::MADE(l, 2 * context, context, k % 2 == 1, gen)));
        break;
      case FlowSpec::Kind::none: break;
    }
  }
}

std::vector<dist::TransformPtr> PosteriorFlow::transforms(const Tensor& h) const {
  const int64_t l = latent_;
  std::vector<dist::TransformPtr> out;
  out.reserve(size_t(spec_.steps));
  for (int64_t k = 0; k < spec_.steps; ++k) {
    switch (spec_.kind) {
      case FlowSpec::Kind::planar: {
        const Tensor p = heads_[size_t(k)]->forward(h);
        out.push_back(std::make_shared<dist::PlanarTransform>(narrow(p, 1, 0, l), narrow(p, 1, l, l), select(p, 1, 2 * l)));
        break;
      }
      case FlowSpec::Kind::radial: {
        const Tensor p = heads_[size_t(k)]->forward(h);
        out.push_back(std::make_shared<dist::RadialTransform>(narrow(p, 1, 0, l), select(p, 1, l), select(p, 1, l + 1)));
        break;
      }
      case FlowSpec::Kind::householder:
        out.push_back(std::make_shared<dist::HouseholderTransform>(heads_[size_t(k)]->forward(h)));
        break;
      case FlowSpec::Kind::iaf: {
        const nn::MADE* made = made_[size_t(k)];
        // z [S..., B, L] with the context [B, C]: the MADE broadcasts the context's hidden term
        auto net = [made, h](const Tensor& z) {
          const nn::MADE::Output o = made->forward(z, h);
          return std::pair<Tensor, Tensor>{o.m, o.s};
        };
        out.push_back(std::make_shared<dist::AffineAutoregressiveTransform>(net, l));
        break;
      }
      case FlowSpec::Kind::none: break;
    }
  }
  return out;
}

dist::AnyDistribution PosteriorFlow::refine(const dist::AnyDistribution& base, const Tensor& context) const {
  return dist::TransformedDistribution(base, transforms(context));
}

}  // namespace elbo::models
