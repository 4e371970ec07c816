#include "models/vae.h"

namespace elbo::models {

VAE::VAE(const VaeOptions& o, Generator& gen)
    : opt_(o),
      encoder_(register_inline(make_encoder(o, gen))),
      decoder_(register_inline(make_decoder(o, make_likelihood(o.likelihood), gen))),
      flow_(o.flow.kind == FlowSpec::Kind::none
                ? nullptr
                : &register_module("flow", PosteriorFlow(o.flow, encoder_.context_features(), o.latent, gen))),
      learned_prior_(o.prior.kind == PriorSpec::Kind::normal
                         ? nullptr
                         : &register_module("prior", LearnedPrior(o.prior, o.latent, gen))),
      probe_(named_parameters().front().second),
      prior_(standard_normal(o.latent)) {}

dist::AnyDistribution VAE::prior() const {
  if (learned_prior_) return learned_prior_->distribution();
  return probe_.dtype() == DType::f32 ? prior_ : standard_normal(opt_.latent, probe_.dtype());
}
namespace {
void check_unconditional(const VaeOptions& o, const char* call, const char* instead) {
  ELBO_CHECK(o.condition == 0, "VAE::{}: this VAE is conditioned on {} classes; use {} (or models::given(vae, y))",
             call, o.condition, instead);
}
// Conditional calls: a conditional VAE, and an input [N, ...] whose rows the labels are checked against.
void check_conditional(const VaeOptions& o, const char* call, const Tensor& input) {
  ELBO_CHECK(o.condition > 0, "VAE::{}: this VAE is not conditioned on labels (VaeOptions::condition is 0)", call);
  ELBO_CHECK_SHAPE(input.defined() && input.dim() == 2, "VAE::{}: input {} is not [N, features]", call,
                   input.defined() ? input.shape() : Shape{});
}
}  // namespace

dist::AnyDistribution VAE::posterior(const Tensor& x) const {
  check_unconditional(opt_, "posterior(x)", "posterior(x, y)");
  if (!flow_) return encoder_.forward(x);
  return posterior(encoder_.params(x));
}

dist::AnyDistribution VAE::prior(const Tensor& /*y*/) const { return prior(); }

dist::AnyDistribution VAE::posterior(const Tensor& x, const Tensor& y) const {
  check_conditional(opt_, "posterior(x, y)", x);
  check_labels("VAE::posterior", y, x.size(0), opt_.condition);
  const Tensor in = cat({x, one_hot(y, opt_.condition, x.dtype())}, 1);
  if (!flow_) return encoder_.forward(in);
  return posterior(encoder_.params(in));
}

dist::AnyDistribution VAE::likelihood(const Tensor& z, const Tensor& y) const {
  check_conditional(opt_, "likelihood(z, y)", z);
  check_labels("VAE::likelihood", y, z.size(0), opt_.condition);
  return decoder_.forward(cat({z, one_hot(y, opt_.condition, z.dtype())}, 1));
}

dist::AnyDistribution VAE::posterior(const Encoder::Params& p) const {
  const dist::AnyDistribution q0 = encoder_.distribution(p);
  return flow_ ? flow_->refine(q0, p.context) : q0;
}
dist::AnyDistribution VAE::likelihood(const Tensor& z) const {
  check_unconditional(opt_, "likelihood(z)", "likelihood(z, y)");
  return decoder_.forward(z);
}

std::string VAE::describe() const {
  const std::string flow = flow_ ? ", flow " + flow_name(opt_.flow) : "";
  const std::string prior = learned_prior_ ? ", prior " + prior_name(opt_.prior) : "";
  const std::string cond = opt_.condition > 0 ? fmt::format(", given {} classes", opt_.condition) : "";
  return fmt::format("{} VAE {}{}{}{}, {} likelihood", arch_name(opt_.arch), models::describe(opt_), flow, prior, cond,
                     decoder_.head().name());
}

Tensor VAE::sample_images(int64_t n, Generator& gen) const {
  check_unconditional(opt_, "sample_images(n)", "sample_images(y)");
  NoGradGuard no_grad;
  return decoder_.mean(prior().sample(gen, {n}));
}

Tensor VAE::reconstruct(const Tensor& x) const {
  NoGradGuard no_grad;
  return decoder_.mean(location(posterior(x)));
}

Tensor VAE::sample_images(const Tensor& y, Generator& gen) const {
  ELBO_CHECK(opt_.condition > 0, "VAE::sample_images(y): this VAE is not conditioned on labels");
  check_labels("VAE::sample_images", y, -1, opt_.condition);
  NoGradGuard no_grad;
  const Tensor z = prior().sample(gen, {y.size(0)});
  return decoder_.mean(cat({z, one_hot(y, opt_.condition, z.dtype())}, 1));
}

Tensor VAE::reconstruct(const Tensor& x, const Tensor& y) const {
  NoGradGuard no_grad;
  const Tensor z = location(posterior(x, y));
  return decoder_.mean(cat({z, one_hot(y, opt_.condition, z.dtype())}, 1));
}

}  // namespace elbo::models
