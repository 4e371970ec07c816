#include "models/flows.h"

#include "distributions/autoregressive.h"
#include "distributions/mixture.h"
#include "models/estimators.h"
#include "models/model.h"

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
  else if (kind == "sylvester") f.kind = FlowSpec::Kind::sylvester;
  else if (kind == "tsylvester") f.kind = FlowSpec::Kind::tsylvester;
  if (f.kind != FlowSpec::Kind::none && colon != std::string_view::npos) {
    f.steps = detail::parse_count(s.substr(colon + 1), 256);
    if (f.steps > 0) return f;
  }
  throw ValueError(fmt::format("--flow: '{}' is not one of none, planar:K, radial:K, householder:K, iaf:K, "
                               "sylvester:K, tsylvester:K (K steps in [1, 256])", s));
}

std::string flow_name(const FlowSpec& f) {
  switch (f.kind) {
    case FlowSpec::Kind::none: return "none";
    case FlowSpec::Kind::planar: return fmt::format("planar:{}", f.steps);
    case FlowSpec::Kind::radial: return fmt::format("radial:{}", f.steps);
    case FlowSpec::Kind::householder: return fmt::format("householder:{}", f.steps);
    case FlowSpec::Kind::iaf: return fmt::format("iaf:{}", f.steps);
    case FlowSpec::Kind::sylvester: return fmt::format("sylvester:{}", f.steps);
    case FlowSpec::Kind::tsylvester: return fmt::format("tsylvester:{}", f.steps);
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
      case FlowSpec::Kind::sylvester:  // Q raw, R, R~ (each L x L), two diagonals, b
        heads_.push_back(&register_module(name, nn::Linear(context, 3 * l * l + 3 * l, gen)));
        break;
      case FlowSpec::Kind::tsylvester:
        heads_.push_back(&register_module(name, nn::Linear(context, 2 * l * l + 3 * l, gen)));
        break;
      case FlowSpec::Kind::none: break;
    }
  }
  if (spec.kind == FlowSpec::Kind::tsylvester) {
    identity_ = diag_embed(ones({l}));
    reversal_ = flip(identity_, {1});
  }
}

namespace {
// Transforms live in the small-object pool, as the rest of a step's graph.
template <class T, class... A> dist::TransformPtr pooled(A&&... a) {
  return std::allocate_shared<T>(elbo::detail::PoolAllocator<T>{}, std::forward<A>(a)...);
}
}  // namespace

dist::TransformList PosteriorFlow::transforms(const Tensor& h) const {
  const int64_t l = latent_;
  dist::TransformList out;
  out.reserve(size_t(spec_.steps));
  for (int64_t k = 0; k < spec_.steps; ++k) {
    switch (spec_.kind) {
      case FlowSpec::Kind::planar: {
        const Tensor p = heads_[size_t(k)]->forward(h);
        out.push_back(pooled<dist::PlanarTransform>(narrow(p, 1, 0, l), narrow(p, 1, l, l), select(p, 1, 2 * l)));
        break;
      }
      case FlowSpec::Kind::radial: {
        const Tensor p = heads_[size_t(k)]->forward(h);
        out.push_back(pooled<dist::RadialTransform>(narrow(p, 1, 0, l), select(p, 1, l), select(p, 1, l + 1)));
        break;
      }
      case FlowSpec::Kind::householder:
        out.push_back(pooled<dist::HouseholderTransform>(heads_[size_t(k)]->forward(h)));
        break;
      case FlowSpec::Kind::iaf: {
        const nn::MADE* made = made_[size_t(k)];
        // z [S..., B, L] with the context [B, C]: the MADE broadcasts the context's hidden term
        auto net = [made](const Tensor& z, const Tensor& c) {
          const nn::MADE::Output o = made->forward(z, c);
          return std::pair<Tensor, Tensor>{o.m, o.s};
        };
        out.push_back(pooled<dist::AffineAutoregressiveTransform>(net, l, h));
        break;
      }
      case FlowSpec::Kind::sylvester:
      case FlowSpec::Kind::tsylvester: {
        const Tensor p = heads_[size_t(k)]->forward(h);
        const int64_t b = p.size(0);
        int64_t at = 0;
        auto take = [&](int64_t n) {
          const Tensor t = narrow(p, 1, at, n);
          at += n;
          return t;
        };
        Tensor q;
        if (spec_.kind == FlowSpec::Kind::sylvester) {
          q = dist::orthogonalize(reshape(take(l * l), {b, l, l}));
        } else {
          const Tensor& fixed = k % 2 == 0 ? identity_ : reversal_;
          q = fixed.dtype() == p.dtype() ? fixed : fixed.to(p.dtype());
        }
        const Tensor r = triu(reshape(take(l * l), {b, l, l}), 1) + diag_embed(tanh(take(l)));
        const Tensor rt = triu(reshape(take(l * l), {b, l, l}), 1) + diag_embed(tanh(take(l)));
        out.push_back(pooled<dist::SylvesterTransform>(q, r, rt, take(l)));
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

FlowDecoder::CouplingNet::CouplingNet(int64_t in, int64_t hidden, int64_t out, Generator& gen)
    : in_(&register_module("in", nn::Linear(in, hidden, gen))), out_(&register_module("out", nn::Linear(hidden, 2 * out, gen))) {
  nn::init::zeros_(out_->weight()), nn::init::zeros_(out_->bias());  // every step starts as the identity
}

Tensor FlowDecoder::CouplingNet::forward(const Tensor& x) const { return out_->forward(relu(in_->forward(x))); }

FlowDecoder::FlowDecoder(const NetworkOptions& o, std::shared_ptr<const Likelihood> head, Generator& gen)
    : Decoder(head),
      d_(o.height * o.width),
      split_(d_ / 2),
      fc3_(register_module("fc3", nn::Linear(o.latent, o.hidden, gen))),
      fc4_(register_module("fc4", nn::Linear(o.hidden, 2 * d_, gen))) {
  ELBO_CHECK_VALUE(o.arch == Arch::mlp, "flow likelihood: needs --arch mlp (its couplings condition on fc3's features)");
  ELBO_CHECK_VALUE(d_ >= 2, "flow likelihood: needs at least 2 pixels, got {}", d_);
  auto& steps = register_module("coupling", nn::Sequential());
  for (int64_t k = 0; k < head->coupling_steps(); ++k)
    couplings_.push_back(&steps.push_back(CouplingNet(split_ + o.hidden, o.hidden, d_ - split_, gen)));
}

Tensor FlowDecoder::params(const Tensor& z) const { return fc4_.forward(hidden(z)); }

dist::TransformedDistribution FlowDecoder::build(const Tensor& h) const {
  const Tensor out = fc4_.forward(h);
  const dist::AnyDistribution base =
      dist::Independent(dist::Normal(narrow(out, 1, 0, d_), exp(clamp(narrow(out, 1, d_, d_), -7.0, 2.0))), 1);
  dist::TransformList t;
  for (size_t k = 0; k < couplings_.size(); ++k) {
    if (k > 0) t.push_back(pooled<dist::FlipTransform>());
    const CouplingNet* net = couplings_[k];
    // x_a [S.., N, D/2] with h [N, H]: the context is broadcast to x_a's leading dims
    auto st = [net, h](const Tensor& xa) {
      const Tensor ctx = xa.dim() == h.dim() ? h : expand(h, [&] {
        Shape s = xa.shape();
        s.back() = h.size(-1);
        return s;
      }());
      const Tensor o = net->forward(cat({xa, ctx}, -1));
      return std::pair<Tensor, Tensor>{tanh(narrow(o, -1, 0, o.size(-1) / 2)), narrow(o, -1, o.size(-1) / 2, o.size(-1) / 2)};
    };
    t.push_back(pooled<dist::AffineCouplingTransform>(st, d_, split_));
  }
  t.push_back(pooled<dist::UnitIntervalTransform>());
  return dist::TransformedDistribution(base, std::move(t));
}

dist::AnyDistribution FlowDecoder::forward(const Tensor& z) const { return build(hidden(z)); }

Tensor FlowDecoder::mean(const Tensor& z) const {
  NoGradGuard no_grad;
  return clamp(location(build(hidden(z))), 0.0, 1.0);
}

PriorSpec parse_prior(std::string_view s) {
  if (s == "normal") return {};
  const size_t colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  PriorSpec p;
  p.kind = kind == "mog" ? PriorSpec::Kind::mog : kind == "flow" ? PriorSpec::Kind::flow : PriorSpec::Kind::normal;
  if (p.kind != PriorSpec::Kind::normal && colon != std::string_view::npos) {
    p.k = detail::parse_count(s.substr(colon + 1), 1024);
    if (p.k > 0) return p;
  }
  throw ValueError(fmt::format("--prior: '{}' is not one of normal, mog:K, flow:K (K in [1, 1024])", s));
}

std::string prior_name(const PriorSpec& p) {
  switch (p.kind) {
    case PriorSpec::Kind::normal: return "normal";
    case PriorSpec::Kind::mog: return fmt::format("mog:{}", p.k);
    case PriorSpec::Kind::flow: return fmt::format("flow:{}", p.k);
  }
  return "";
}

LearnedPrior::LearnedPrior(const PriorSpec& spec, int64_t latent, Generator& gen) : spec_(spec), latent_(latent) {
  ELBO_CHECK(spec.kind != PriorSpec::Kind::normal && spec.k >= 1, "LearnedPrior: no learned prior given ({})",
             prior_name(spec));
  if (spec.kind == PriorSpec::Kind::mog) {
    logits_ = register_parameter("logits", zeros({spec.k}));
    loc_ = register_parameter("loc", randn({spec.k, latent}, gen));
    log_scale_ = register_parameter("log_scale", zeros({spec.k, latent}));
  } else {
    for (int64_t k = 0; k < spec.k; ++k)
      made_.push_back(&register_module(std::to_string(k), nn::MADE(latent, 4 * latent, 0, k % 2 == 1, gen)));
  }
}

dist::AnyDistribution LearnedPrior::distribution() const {
  if (spec_.kind == PriorSpec::Kind::mog)
    return dist::MixtureSameFamily(dist::Categorical(logits_),
                                   dist::Independent(dist::Normal(loc_, exp(log_scale_)), 1));
  const DType d = named_parameters().front().second.dtype();
  dist::TransformList steps;
  for (const nn::MADE* made : made_) {
    auto net = [made](const Tensor& z, const Tensor&) {
      const nn::MADE::Output o = made->forward(z);
      return std::pair<Tensor, Tensor>{o.m, o.s};
    };
    steps.push_back(pooled<dist::InverseTransform>(pooled<dist::AffineAutoregressiveTransform>(net, latent_)));
  }
  return dist::TransformedDistribution(standard_normal(latent_, d), std::move(steps));
}

}  // namespace elbo::models
