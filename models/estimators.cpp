// The estimators of estimators.h, written once over the three distributions of a model.
#include "models/estimators.h"

#include <algorithm>
#include <cmath>

#include "distributions/chain.h"
#include "distributions/transformed.h"

namespace elbo::models {
namespace {

bool analytic_kl(const dist::AnyDistribution& q, const dist::AnyDistribution& prior, KlEstimate how) {
  switch (how) {
    case KlEstimate::monte_carlo: return false;
    case KlEstimate::automatic: return dist::has_kl(q, prior);
    case KlEstimate::analytic:
      ELBO_CHECK(dist::has_kl(q, prior), "elbo: KlEstimate::analytic, but no closed form is registered for KL({} || "
                 "{}); use KlEstimate::automatic or monte_carlo", q.name(), prior.name());
      return true;
  }
  return false;
}

// n copies of x stacked along dim 0: [n * B, ...], copy j of row i at j * B + i.
Tensor tile(const Tensor& x, int64_t n) {
  detail::Dims s(x.shape().begin(), x.shape().end());
  s.insert(s.begin(), n);
  return flatten(expand(unsqueeze(x, 0), s), 0, 1);
}

// [n] as the samplers' const Shape& without building a vector per call (a training step allocates
// nothing); valid until the next call on this thread.
const Shape& sample_dims(int64_t n) {
  thread_local Shape s(1);
  s[0] = n;
  return s;
}

// z from q: reparameterized when q can, so gradients reach its parameters; a plain draw otherwise.
Tensor draw(const dist::AnyDistribution& q, Generator& gen, const Shape& sample_shape) {
  return q.has_rsample() ? q.rsample(gen, sample_shape) : q.sample(gen, sample_shape);
}

}  // namespace

ElboTerms elbo(const LatentModel& m, const dist::AnyDistribution& q, const Tensor& x, Generator& gen,
               const ElboOptions& o) {
  ELBO_CHECK_VALUE(o.samples >= 1, "elbo: samples must be >= 1, got {}", o.samples);
  ELBO_CHECK(q.has_rsample(), "elbo: q(z|x) is {}, which has no rsample; the ELBO's gradient needs a "
             "reparameterized posterior", q.name());
  const dist::AnyDistribution prior = m.prior();
  const bool analytic = analytic_kl(q, prior, o.kl);
  Tensor log_px, kl;
  if (o.samples == 1) {  // the training step's path: no sample dim
    const Tensor z = q.rsample(gen);
    log_px = m.likelihood(z).log_prob(x);
    if (!analytic) kl = q.log_prob(z) - prior.log_prob(z);
  } else {
    const int64_t s = o.samples, b = x.size(0);
    const Tensor z = q.rsample(gen, sample_dims(s));  // [S, B, L]
    log_px = mean(reshape(m.likelihood(flatten(z, 0, 1)).log_prob(tile(x, s)), {s, b}), {0});
    if (!analytic) kl = mean(q.log_prob(z) - prior.log_prob(z), {0});
  }
  if (analytic) kl = dist::kl_divergence(q, prior);
  return {log_px - kl, log_px, kl};
}

ElboTerms elbo(const AmortizedModel& m, const Tensor& x, Generator& gen, const ElboOptions& o) {
  return elbo(m, m.posterior(x), x, gen, o);
}

Tensor iwae(const LatentModel& m, const dist::AnyDistribution& q, const Tensor& x, Generator& gen, int k, int chunk) {
  ELBO_CHECK_VALUE(k >= 1, "iwae: K must be >= 1, got {}", k);
  ELBO_CHECK_VALUE(chunk >= 1, "iwae: chunk must be >= 1, got {}", chunk);
  const dist::AnyDistribution prior = m.prior();
  const int64_t b = x.size(0);
  detail::PooledVector<Tensor> parts;
  for (int start = 0; start < k; start += chunk) {
    const int64_t n = std::min(chunk, k - start);
    const Tensor z = draw(q, gen, sample_dims(n));  // [n, B, L]
    const Tensor log_px = reshape(m.likelihood(flatten(z, 0, 1)).log_prob(tile(x, n)), {n, b});
    parts.push_back(log_px + prior.log_prob(z) - q.log_prob(z));  // log w, [n, B]
  }
  const Tensor logw = parts.size() == 1 ? parts[0] : cat(std::span<const Tensor>(parts.data(), parts.size()), 0);
  return logsumexp(logw, 0) - std::log(double(k));
}

Tensor iwae(const AmortizedModel& m, const Tensor& x, Generator& gen, int k, int chunk) {
  return iwae(m, m.posterior(x), x, gen, k, chunk);
}

Tensor kl_per_dim(const dist::AnyDistribution& q, const dist::AnyDistribution& p) {
  const dist::AnyDistribution qb = q.base_dist(), pb = p.base_dist();
  ELBO_CHECK(qb.defined() && pb.defined() && dist::has_kl(qb, pb),
             "kl_per_dim: needs two factorized distributions (Independent) whose bases have a closed-form KL, got "
             "{} and {}", q.name(), p.name());
  return dist::kl_divergence(qb, pb);
}

Tensor loss(const LatentModel& m, const dist::AnyDistribution& q, const Tensor& x, Generator& gen, const Objective& obj,
            int64_t step) {
  if (obj.iw > 1) return -mean(iwae(m, q, x, gen, obj.iw, obj.iw));
  const ElboTerms t = elbo(m, q, x, gen, {obj.samples, obj.kl});
  const double w = obj.warmup_steps > 0 ? obj.beta * std::min(1.0, double(step) / obj.warmup_steps) : obj.beta;
  // Kingma et al. 2016: sum_j max(lambda, E_batch KL_j)
  const Tensor kl = obj.free_bits > 0
                        ? sum(maximum(mean(kl_per_dim(q, m.prior()), {0}), full({}, obj.free_bits, t.kl.dtype())))
                        : mean(t.kl);
  const Tensor rec = mean(t.log_px);
  return w == 1.0 ? kl - rec : w * kl - rec;
}

Tensor loss(const AmortizedModel& m, const Tensor& x, Generator& gen, const Objective& obj, int64_t step) {
  return loss(m, m.posterior(x), x, gen, obj, step);
}

double mean_over(const Tensor& x, int64_t batch, const std::function<Tensor(const Tensor&)>& score,
                 const std::function<void(int64_t, double)>& progress) {
  ELBO_CHECK_VALUE(batch >= 1, "mean_over: batch must be >= 1, got {}", batch);
  NoGradGuard no_grad;
  const int64_t n = x.size(0);
  double total = 0;
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t len = std::min(batch, n - b);
    total += sum(score(narrow(x, 0, b, len))).item();
    if (progress) progress(b + len, total / double(b + len));
  }
  return n > 0 ? total / double(n) : 0.0;
}

LatentReport latent_report(const AmortizedModel& m, const Tensor& x, double threshold, int64_t batch) {
  NoGradGuard no_grad;
  std::vector<Tensor> means, kls;
  bool factorized = true;
  const dist::AnyDistribution prior = m.prior();
  for (int64_t b = 0; b < x.size(0); b += batch) {
    const dist::AnyDistribution q = m.posterior(narrow(x, 0, b, std::min(batch, x.size(0) - b)));
    means.push_back(location(q));
    factorized = factorized && q.base_dist().defined() && prior.base_dist().defined() &&
                 dist::has_kl(q.base_dist(), prior.base_dist());
    if (factorized) kls.push_back(kl_per_dim(q, prior));
  }
  LatentReport r;
  if (means.empty()) return r;
  // active units: Var_x E_q[z_j] > threshold (Burda et al. 2016)
  const Tensor mu = cat(means, 0), var = mean(square(mu - mean(mu, {0}, true)), {0});
  for (double v : var.to_vector<double>()) r.active.push_back(v > threshold), r.active_units += v > threshold;
  if (factorized) r.kl_per_dim = mean(cat(kls, 0), {0}).to_vector<double>();
  return r;
}

LayerReport layer_report(const AmortizedModel& m, const Tensor& x, Generator& gen, double threshold, int64_t batch) {
  ELBO_CHECK_VALUE(batch >= 1, "layer_report: batch must be >= 1, got {}", batch);
  NoGradGuard no_grad;
  const dist::AnyDistribution prior = m.prior();
  const auto* pc = prior.target<dist::Chain>();
  std::vector<std::vector<Tensor>> means;  // [layer][batch]
  std::vector<double> kl;
  LayerReport r;
  for (int64_t b = 0; b < x.size(0); b += batch) {
    const dist::AnyDistribution q = m.posterior(narrow(x, 0, b, std::min(batch, x.size(0) - b)));
    const auto* qc = q.target<dist::Chain>();
    ELBO_CHECK((qc == nullptr) == (pc == nullptr) && (!qc || qc->sizes() == pc->sizes()),
               "layer_report: the posterior ({}) and the prior ({}) must both be chains over the same layers, or "
               "neither", q.name(), prior.name());
    const Tensor z = q.sample(gen);
    std::vector<Tensor> lq = qc ? qc->log_prob_layers(z) : std::vector<Tensor>{q.log_prob(z)};
    std::vector<Tensor> lp = pc ? pc->log_prob_layers(z) : std::vector<Tensor>{prior.log_prob(z)};
    std::vector<Tensor> mu = qc ? qc->layer_means(gen) : std::vector<Tensor>{location(q)};
    if (means.empty()) {
      means.resize(lq.size());
      kl.assign(lq.size(), 0.0);
      r.sizes = qc ? qc->sizes() : std::vector<int64_t>{q.event_shape().empty() ? 1 : q.event_shape()[0]};
    }
    for (size_t i = 0; i < lq.size(); ++i) {
      kl[i] += sum(lq[i] - lp[i]).item();
      means[i].push_back(mu[i]);
    }
  }
  for (size_t i = 0; i < means.size(); ++i) {
    const Tensor mu = cat(means[i], 0), var = mean(square(mu - mean(mu, {0}, true)), {0});
    int64_t active = 0;
    for (double v : var.to_vector<double>()) active += v > threshold;
    r.active_units.push_back(active);
    r.kl.push_back(kl[i] / double(x.size(0)));
  }
  return r;
}

}  // namespace elbo::models
