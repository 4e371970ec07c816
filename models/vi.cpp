#include "models/vi.h"

#include <chrono>
#include <cmath>

#include "autograd/kernels/kernels.h"

namespace elbo::models {
namespace {
constexpr double kLog2Pi = 1.8378770664093453;
double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Tensor elbo_of(const DecodeFn& decode, const Likelihood& lik, const Tensor& x, const Tensor& mu, const Tensor& logvar,
               Generator& gen, int samples) {
  const Tensor s = exp(0.5 * logvar);
  Tensor log_px;
  for (int i = 0; i < samples; ++i) {
    const Tensor lp = lik.log_prob(decode(mu + randn(mu.shape(), gen, mu.dtype()) * s), x);
    log_px = log_px.defined() ? log_px + lp : lp;
  }
  if (samples > 1) log_px = log_px * (1.0 / samples);
  return log_px - kl_standard_normal({mu, logvar});
}

Tensor iwae_of(const DecodeFn& decode, const Likelihood& lik, const Tensor& x, const Tensor& mu, const Tensor& logvar,
               Generator& gen, int k, int chunk) {
  const int64_t b = x.shape()[0], l = mu.shape()[1];
  const Tensor s = exp(0.5 * logvar), log_s = 0.5 * logvar;
  std::vector<Tensor> parts;
  for (int start = 0; start < k; start += chunk) {
    const int64_t n = std::min(chunk, k - start);
    const Tensor eps = randn({n, b, l}, gen, mu.dtype());
    const Tensor z = mu + eps * s;  // [n, B, L]
    const Tensor xr = reshape(expand(unsqueeze(x, 0), {n, b, x.shape()[1]}), {n * b, x.shape()[1]});
    const Tensor log_px = reshape(lik.log_prob(decode(reshape(z, {n * b, l})), xr), {n, b});
    const Tensor log_pz = sum(square(z), {2}) * -0.5 - 0.5 * kLog2Pi * double(l);
    const Tensor log_qz = sum(square(eps) * -0.5 - log_s, {2}) - 0.5 * kLog2Pi * double(l);
    parts.push_back(log_px + log_pz - log_qz);
  }
  return logsumexp(parts.size() == 1 ? parts[0] : cat(parts, 0), 0) - std::log(double(k));
}

QParams optimize_q(const DecodeFn& decode, const Likelihood& lik, const Tensor& x, const QParams& init, Generator& gen,
                   int steps, double lr) {
  EnableGradGuard grad_on;  // callers may be evaluating under NoGradGuard
  Tensor mu = init.mu.detach().clone(), lv = init.logvar.detach().clone();
  mu.requires_grad_();
  lv.requires_grad_();
  optim::Adam opt({mu, lv}, {.lr = lr});
  for (int t = 0; t < steps; ++t) {
    opt.zero_grad();
    // sum, not mean: each example's q is independent, so its gradient is its own ELBO's
    const Tensor loss = -sum(elbo_of(decode, lik, x, mu, lv, gen));
    loss.backward();
    opt.step();
  }
  return {mu.detach(), lv.detach()};
}

DecoderModel::DecoderModel(const VaeOptions& o, Generator& gen) : opt_(o) {
  const int64_t d = o.height * o.width;
  if (o.arch == "mlp") {
    fc3_ = &register_module("fc3", nn::Linear(o.latent, o.hidden, gen));
    fc4_ = &register_module("fc4", nn::Linear(o.hidden, o.likelihood.out_features(d), gen));
    return;
  }
  ELBO_CHECK(o.arch == "conv", "DecoderModel: unknown architecture '{}' (mlp or conv)", o.arch);
  ELBO_CHECK(o.height == 28 && o.width == 28, "conv decoder: the architecture is for 28x28 images, got {}x{}",
             o.height, o.width);
  decoder_ = &register_module("decoder", conv_decoder(o.latent, o.likelihood.out_features(1), gen));
}

std::string DecoderModel::describe() const {
  return fmt::format("{} decoder + per-example q (non-amortized VI), latent {}, {} likelihood", opt_.arch, opt_.latent,
                     opt_.likelihood.name());
}

Tensor DecoderModel::decode(const Tensor& z) const {
  if (fc3_) return fc4_->forward(relu(fc3_->forward(z)));
  return conv_rows(decoder_->forward(z), opt_.likelihood);
}

LocalPosteriors::LocalPosteriors(int64_t n, int64_t latent)
    : mu_(zeros({n, latent})), logvar_(zeros({n, latent})), m_(zeros({n, 2 * latent})), v_(zeros({n, 2 * latent})),
      steps_(static_cast<size_t>(n), 0) {}

QParams LocalPosteriors::gather(const std::vector<int64_t>& ids) {
  const Tensor idx = tensor(std::vector<double>(ids.begin(), ids.end()), {int64_t(ids.size())}, DType::i64);
  Tensor mu = index_select(mu_, 0, idx).detach(), lv = index_select(logvar_, 0, idx).detach();
  mu.requires_grad_();
  lv.requires_grad_();
  return {mu, lv};
}

void LocalPosteriors::step(const std::vector<int64_t>& ids, const QParams& rows, double lr) {
  const int64_t l = mu_.shape()[1];
  const Tensor gm = rows.mu.grad(), gl = rows.logvar.grad();
  if (!gm.defined() || !gl.defined()) return;
  std::vector<float> p(size_t(2 * l)), g(size_t(2 * l));
  for (size_t r = 0; r < ids.size(); ++r) {
    const int64_t i = ids[r];
    float* mu = mu_.data<float>() + i * l;
    float* lv = logvar_.data<float>() + i * l;
    for (int64_t j = 0; j < l; ++j) {
      p[size_t(j)] = mu[j], p[size_t(l + j)] = lv[j];
      g[size_t(j)] = gm.data<float>()[int64_t(r) * l + j], g[size_t(l + j)] = gl.data<float>()[int64_t(r) * l + j];
    }
    kernels::AdamParams a{lr, 0.9, 0.999, 1e-8, 0.0, ++steps_[size_t(i)], false, false};
    kernels::adam<float>(a, p.data(), g.data(), m_.data<float>() + i * 2 * l, v_.data<float>() + i * 2 * l, nullptr,
                         2 * l);
    for (int64_t j = 0; j < l; ++j) mu[j] = p[size_t(j)], lv[j] = p[size_t(l + j)];
  }
}

std::vector<std::pair<std::string, Tensor>> LocalPosteriors::state() const {
  return {{"mu", mu_},
          {"logvar", logvar_},
          {"adam_m", m_},
          {"adam_v", v_},
          {"steps", tensor(std::vector<double>(steps_.begin(), steps_.end()), {int64_t(steps_.size())}, DType::i64)}};
}

void LocalPosteriors::load_state(const std::map<std::string, Tensor>& state, const std::string& file) {
  // Everything is checked before anything is copied, so a bad state leaves this object as it was.
  const std::pair<const char*, Tensor*> rows[] = {{"mu", &mu_}, {"logvar", &logvar_}, {"adam_m", &m_}, {"adam_v", &v_}};
  for (const auto& [name, dst] : rows) {
    const auto it = state.find(name);
    ELBO_CHECK(it != state.end(),
               "{}: no per-example posterior tensor '{}' (checkpoints of elbo-vi keep them since --local-steps "
               "came in; an older one cannot be resumed)", file, name);
    ELBO_CHECK_SHAPE(is_floating(it->second.dtype()) && it->second.shape() == dst->shape(),
                     "{}: per-example posterior '{}' is {} {}, this run needs f32 {} (same data and --latent?)", file,
                     name, it->second.dtype(), it->second.shape(), dst->shape());
  }
  const auto st = state.find("steps");
  ELBO_CHECK(st != state.end() && st->second.dtype() == DType::i64 && st->second.numel() == size(),
             "{}: the per-example Adam step counts are missing or do not match {} examples", file, size());
  const std::vector<int64_t> steps = st->second.to_vector<int64_t>();
  for (size_t i = 0; i < steps.size(); ++i)
    ELBO_CHECK(steps[i] >= 0, "{}: per-example Adam step count {} at row {} is negative", file, steps[i], i);
  for (const auto& [name, dst] : rows) dst->copy_(state.at(name));
  steps_ = steps;
}

GapReport amortization_gap(const VAE& vae, const Tensor& x, Generator& gen, int steps, int k, int samples,
                           int64_t batch) {
  const Likelihood& lik = vae.options().likelihood;
  const DecodeFn decode = [&vae](const Tensor& z) { return vae.decode(z); };
  const int64_t n = x.shape()[0];
  std::vector<double> enc, opt, ll;
  double enc_ms = 0, opt_ms = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const Tensor xb = narrow(x, 0, b, std::min(batch, n - b));
    double t0 = now_ms();
    Posterior q;
    {
      NoGradGuard ng;
      q = vae.encode(xb);
    }
    enc_ms += now_ms() - t0;
    t0 = now_ms();
    const QParams best = optimize_q(decode, lik, xb, {q.mu, q.logvar}, gen, steps);
    opt_ms += now_ms() - t0;
    NoGradGuard ng;
    for (double v : elbo_of(decode, lik, xb, q.mu, q.logvar, gen, samples).to_vector<double>()) enc.push_back(v);
    for (double v : elbo_of(decode, lik, xb, best.mu, best.logvar, gen, samples).to_vector<double>()) opt.push_back(v);
    for (double v : iwae_of(decode, lik, xb, best.mu, best.logvar, gen, k).to_vector<double>()) ll.push_back(v);
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
