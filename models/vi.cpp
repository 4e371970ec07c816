#include "models/vi.h"

#include <chrono>
#include <cmath>

namespace elbo::models {
namespace {
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
Tensor leaf(const Tensor& t) {
  Tensor c = t.detach().clone();
  c.requires_grad_();
  return c;
}
}  // namespace

DecoderModel::DecoderModel(const VaeOptions& o, Generator& gen)
    : opt_(o),
      decoder_(register_inline(make_decoder(o, make_likelihood(o.likelihood), gen))),
      prior_(standard_normal(o.latent)) {}

std::string DecoderModel::describe() const {
  return fmt::format("{} decoder + per-example q (non-amortized VI), latent {}, {} likelihood", arch_name(opt_.arch),
                     opt_.latent, decoder_.head().name());
}

QParams optimize_q(const LatentModel& m, const Tensor& x, const QParams& init, Generator& gen, int steps, double lr) {
  EnableGradGuard grad_on;  // callers may be evaluating under NoGradGuard
  const QParams q{leaf(init.loc), leaf(init.logvar)};
  optim::Adam opt({q.loc, q.logvar}, {.lr = lr});
  for (int t = 0; t < steps; ++t) {
    opt.zero_grad();
    // sum, not mean: each example's q is independent, so its gradient is its own ELBO's
    (-sum(elbo(m, q.q(), x, gen).elbo)).backward();
    opt.step();
  }
  return {q.loc.detach(), q.logvar.detach()};
}

Encoder::Params optimize_posterior(const VAE& vae, const Tensor& x, const Encoder::Params& init, Generator& gen,
                                   int steps, double lr) {
  EnableGradGuard grad_on;
  const bool flow = vae.options().flow.kind != FlowSpec::Kind::none;
  Encoder::Params p{leaf(init.loc), leaf(init.logvar), init.extra.defined() ? leaf(init.extra) : Tensor(),
                    flow ? leaf(init.context) : init.context};
  std::vector<Tensor> free{p.loc, p.logvar};
  if (p.extra.defined()) free.push_back(p.extra);
  if (flow) free.push_back(p.context);
  optim::Adam opt(free, {.lr = lr});
  for (int t = 0; t < steps; ++t) {
    opt.zero_grad();
    (-sum(elbo(vae, vae.posterior(p), x, gen).elbo)).backward();
    opt.step();
  }
  return {p.loc.detach(), p.logvar.detach(), p.extra.defined() ? p.extra.detach() : Tensor(),
          p.context.defined() ? p.context.detach() : Tensor()};
}

LocalPosteriors::LocalPosteriors(int64_t n, int64_t latent, double lr)
    : loc_(zeros({n, latent}).requires_grad_()),
      logvar_(zeros({n, latent}).requires_grad_()),
      opt_({loc_, logvar_}, {.lr = lr}) {}

dist::AnyDistribution LocalPosteriors::q(const std::vector<int64_t>& ids) const {
  const Tensor idx = tensor(ids, {int64_t(ids.size())}, DType::i64);
  return diagonal_normal(index_select(loc_, 0, idx), index_select(logvar_, 0, idx));
}

void LocalPosteriors::step(const std::vector<int64_t>& ids) {
  opt_.step(ids);
  opt_.zero_grad();
}

nn::NamedTensors LocalPosteriors::state() const {
  nn::NamedTensors out{{"loc", loc_.detach()}, {"logvar", logvar_.detach()}};
  for (auto& [name, t] : opt_.state_dict()) out.emplace_back("optim." + name, t);
  return out;
}

void LocalPosteriors::load_state(const std::map<std::string, Tensor>& state, const std::string& file) {
  nn::NamedTensors optim;
  for (const auto& [name, t] : state)
    if (name.rfind("optim.", 0) == 0) optim.emplace_back(name.substr(6), t);
  for (const auto& [name, dst] : {std::pair{"loc", &loc_}, std::pair{"logvar", &logvar_}}) {
    const auto it = state.find(name);
    ELBO_CHECK(it != state.end(), "{}: no per-example posterior tensor '{}' (an elbo-vi checkpoint keeps them)", file,
               name);
    ELBO_CHECK_SHAPE(is_floating(it->second.dtype()) && it->second.shape() == dst->shape(),
                     "{}: per-example posterior '{}' is {} {}, this run needs f32 {} (same data and --latent?)", file,
                     name, it->second.dtype(), it->second.shape(), dst->shape());
  }
  try {
    opt_.load_state_dict(optim);  // checks all of its entries before it changes any
  } catch (const Error& e) {
    throw IOError(fmt::format("{}: the per-example posteriors' optimizer state: {}", file, e.what()));
  }
  loc_.copy_(state.at("loc"));
  logvar_.copy_(state.at("logvar"));
}

GapReport amortization_gap(const VAE& vae, const Tensor& x, Generator& gen, int steps, int k, int samples,
                           int64_t batch) {
  const int64_t n = x.size(0);
  std::vector<double> enc, opt, ll;
  double enc_ms = 0, opt_ms = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const Tensor xb = narrow(x, 0, b, std::min(batch, n - b));
    double t0 = now_ms();
    Encoder::Params q;
    {
      NoGradGuard ng;
      q = vae.encoder().params(xb);
    }
    enc_ms += now_ms() - t0;
    t0 = now_ms();
    const Encoder::Params best = optimize_posterior(vae, xb, q, gen, steps);
    opt_ms += now_ms() - t0;
    NoGradGuard ng;
    for (double v : elbo(vae, vae.posterior(q), xb, gen, {.samples = samples}).elbo.to_vector<double>()) enc.push_back(v);
    for (double v : elbo(vae, vae.posterior(best), xb, gen, {.samples = samples}).elbo.to_vector<double>())
      opt.push_back(v);
    for (double v : iwae(vae, vae.posterior(best), xb, gen, k).to_vector<double>()) ll.push_back(v);
  }
  auto mean_se = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double a : v) m += a;
    m /= double(v.size());
    for (double a : v) s += (a - m) * (a - m);
    return std::pair{m, std::sqrt(s / double(v.size() - 1) / double(v.size()))};
  };
  std::vector<double> approx(enc.size()), amort(enc.size());
  for (size_t i = 0; i < enc.size(); ++i) approx[i] = ll[i] - opt[i], amort[i] = opt[i] - enc[i];
  GapReport r{};
  r.encoder_elbo = mean_se(enc).first;
  r.optimized_elbo = mean_se(opt).first;
  r.loglik = mean_se(ll).first;
  std::tie(r.approximation_gap, r.approximation_se) = mean_se(approx);
  std::tie(r.amortization_gap, r.amortization_se) = mean_se(amort);
  r.encoder_ms_per_example = enc_ms / double(n);
  r.optimize_ms_per_example = opt_ms / double(n);
  r.examples = n;
  return r;
}

}  // namespace elbo::models
