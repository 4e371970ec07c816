#include "models/flows.h"

#include <array>

#include "distributions/autoregressive.h"
#include "distributions/mixture.h"
#include "models/estimators.h"
#include "models/model.h"

namespace elbo::models {

namespace {

// Transforms live in the small-object pool, as the rest of a step's graph.
template <class T, class... A> dist::TransformPtr pooled(A&&... a) {
  return std::allocate_shared<T>(elbo::detail::PoolAllocator<T>{}, std::forward<A>(a)...);
}

// Each conditional transform declared once, as Pyro's param_dims: the blocks of parameters its step's
// linear head emits for a latent of l dimensions, in order (the head's width is their sum), and how the
// transform is made from them (blocks [B, size] each; q is tsylvester's fixed permutation for the step).
// iaf has no head (its step is a context-conditioned MADE) and so no blocks.
constexpr size_t kMaxBlocks = 6;
using Blocks = std::array<Tensor, kMaxBlocks>;  // fixed size: a step allocates nothing for its parameters
struct Sizes {
  int64_t n[kMaxBlocks] = {};
  size_t count = 0;
};
Sizes sizes_of(std::initializer_list<int64_t> n) {
  Sizes s;
  for (int64_t v : n) s.n[s.count++] = v;
  return s;
}
struct FlowKind {
  std::string_view name;
  FlowSpec::Kind kind;
  Sizes (*blocks)(int64_t l);
  dist::TransformPtr (*build)(const Blocks& p, int64_t l, const Tensor& q);
};

Tensor upper(const Tensor& raw, const Tensor& diag, int64_t l) {  // strictly upper part + tanh on the diagonal
  return triu(reshape(raw, {raw.size(0), l, l}), 1) + diag_embed(tanh(diag));
}

const FlowKind kFlows[] = {
    {"planar", FlowSpec::Kind::planar, [](int64_t l) { return sizes_of({l, l, 1}); },  // u, w, b
     [](const Blocks& p, int64_t, const Tensor&) { return pooled<dist::PlanarTransform>(p[0], p[1], select(p[2], 1, 0)); }},
    {"radial", FlowSpec::Kind::radial, [](int64_t l) { return sizes_of({l, 1, 1}); },  // z0, alpha, beta
     [](const Blocks& p, int64_t, const Tensor&) {
       return pooled<dist::RadialTransform>(p[0], select(p[1], 1, 0), select(p[2], 1, 0));
     }},
    {"householder", FlowSpec::Kind::householder, [](int64_t l) { return sizes_of({l}); },  // v
     [](const Blocks& p, int64_t, const Tensor&) { return pooled<dist::HouseholderTransform>(p[0]); }},
    {"iaf", FlowSpec::Kind::iaf, [](int64_t) { return Sizes{}; }, nullptr},
    // Q raw (orthogonalized); R and R~, each its diagonal then its strictly upper part; b. (The order the
    // checkpoints of earlier versions hold: they took the blocks in GCC's right-to-left order of evaluation.)
    {"sylvester", FlowSpec::Kind::sylvester, [](int64_t l) { return sizes_of({l * l, l, l * l, l, l * l, l}); },
     [](const Blocks& p, int64_t l, const Tensor&) {
       const Tensor q = dist::orthogonalize(reshape(p[0], {p[0].size(0), l, l}));
       return pooled<dist::SylvesterTransform>(q, upper(p[2], p[1], l), upper(p[4], p[3], l), p[5]);
     }},
    // R and R~ (diagonal, then strictly upper part), b; Q is a fixed permutation (identity, then reversal,
    // alternating)
    {"tsylvester", FlowSpec::Kind::tsylvester, [](int64_t l) { return sizes_of({l, l * l, l, l * l, l}); },
     [](const Blocks& p, int64_t l, const Tensor& q) {
       return pooled<dist::SylvesterTransform>(q, upper(p[1], p[0], l), upper(p[3], p[2], l), p[4]);
     }},
};

const FlowKind& kind_of(FlowSpec::Kind k) {
  for (const FlowKind& f : kFlows)
    if (f.kind == k) return f;
  throw Error("PosteriorFlow: no flow given (none)");
}

int64_t head_width(const FlowKind& f, int64_t l) {
  const Sizes s = f.blocks(l);
  int64_t w = 0;
  for (size_t i = 0; i < s.count; ++i) w += s.n[i];
  return w;
}

}  // namespace

FlowSpec parse_flow(std::string_view s) {
  if (s == "none") return {};
  const size_t colon = s.find(':');
  const std::string_view kind = s.substr(0, colon);
  FlowSpec f;
  for (const FlowKind& k : kFlows)
    if (k.name == kind) f.kind = k.kind;
  if (f.kind != FlowSpec::Kind::none && colon != std::string_view::npos) {
    f.steps = detail::parse_count(s.substr(colon + 1), 256);
    if (f.steps > 0) return f;
  }
  std::string names = "none";
  for (const FlowKind& k : kFlows) names += fmt::format(", {}:K", k.name);
  throw ValueError(fmt::format("--flow: '{}' is not one of {} (K steps in [1, 256])", s, names));
}

std::string flow_name(const FlowSpec& f) {
  if (f.kind == FlowSpec::Kind::none) return "none";
  return fmt::format("{}:{}", kind_of(f.kind).name, f.steps);
}

PosteriorFlow::PosteriorFlow(const FlowSpec& spec, int64_t context, int64_t latent, Generator& gen)
    : spec_(spec), latent_(latent) {
  ELBO_CHECK(spec.kind != FlowSpec::Kind::none && spec.steps >= 1, "PosteriorFlow: no flow given ({})",
             flow_name(spec));
  const FlowKind& f = kind_of(spec.kind);
  const int64_t l = latent;
  for (int64_t k = 0; k < spec.steps; ++k) {
    const std::string name = std::to_string(k);
    if (spec.kind == FlowSpec::Kind::iaf)
      made_.push_back(&register_module(name, nn::MADE(l, 2 * context, context, k % 2 == 1, gen)));
    else
      heads_.push_back(&register_module(name, nn::Linear(context, head_width(f, l), gen)));
  }
  if (spec.kind == FlowSpec::Kind::tsylvester) {
    identity_ = diag_embed(ones({l}));
    reversal_ = flip(identity_, {1});
  }
}

dist::TransformList PosteriorFlow::transforms(const Tensor& h) const {
  const int64_t l = latent_;
  const FlowKind& f = kind_of(spec_.kind);
  const Sizes sizes = f.blocks(l);
  dist::TransformList out;
  out.reserve(size_t(spec_.steps));
  Blocks blocks;
  for (int64_t k = 0; k < spec_.steps; ++k) {
    if (spec_.kind == FlowSpec::Kind::iaf) {
      const nn::MADE* made = made_[size_t(k)];
      // z [S..., B, L] with the context [B, C]: the MADE broadcasts the context's hidden term
      auto net = [made](const Tensor& z, const Tensor& c) {
        const nn::MADE::Output o = made->forward(z, c);
        return std::pair<Tensor, Tensor>{o.m, o.s};
      };
      out.push_back(pooled<dist::AffineAutoregressiveTransform>(net, l, h));
      continue;
    }
    const Tensor p = heads_[size_t(k)]->forward(h);
    for (size_t i = 0, at = 0; i < sizes.count; at += size_t(sizes.n[i]), ++i)
      blocks[i] = sizes.count == 1 ? p : narrow(p, 1, int64_t(at), sizes.n[i]);
    Tensor q;
    if (spec_.kind == FlowSpec::Kind::tsylvester) {
      const Tensor& fixed = k % 2 == 0 ? identity_ : reversal_;
      q = fixed.dtype() == p.dtype() ? fixed : fixed.to(p.dtype());
    }
    out.push_back(f.build(blocks, l, q));
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
      fc3_(register_module("fc3", nn::Linear(o.latent + o.condition, o.hidden, gen))),
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
    auto st = [net](const Tensor& xa, const Tensor& h) {
      const Tensor ctx = xa.dim() == h.dim() ? h : expand(h, [&] {
        Shape s = xa.shape();
        s.back() = h.size(-1);
        return s;
      }());
      const Tensor o = net->forward(cat({xa, ctx}, -1));
      return std::pair<Tensor, Tensor>{tanh(narrow(o, -1, 0, o.size(-1) / 2)), narrow(o, -1, o.size(-1) / 2, o.size(-1) / 2)};
    };
    t.push_back(pooled<dist::AffineCouplingTransform>(dist::AffineCouplingTransform::ContextNet(st), h, d_, split_));
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
  probe_ = named_parameters().front().second;
}

dist::AnyDistribution LearnedPrior::distribution() const {
  if (spec_.kind == PriorSpec::Kind::mog)
    return dist::MixtureSameFamily(dist::Categorical(logits_),
                                   dist::Independent(dist::Normal(loc_, exp(log_scale_)), 1));
  const DType d = probe_.dtype();
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
