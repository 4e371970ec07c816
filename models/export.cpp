#include "models/export.h"

#include <functional>
#include <vector>

#include "models/estimators.h"

namespace elbo::models {
namespace {

// f on consecutive row blocks of x, the results concatenated along the rows.
Tensor by_rows(const Tensor& x, int64_t batch, const char* what, const std::function<Tensor(const Tensor&)>& f) {
  ELBO_CHECK(batch > 0, "{}: the batch must be positive, got {}", what, batch);
  ELBO_CHECK_SHAPE(x.defined() && x.dim() >= 1 && x.size(0) > 0, "{}: needs one example per row, got {}", what,
                   x.defined() ? x.shape() : Shape{});
  NoGradGuard ng;
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < x.size(0); b += batch) parts.push_back(f(narrow(x, 0, b, std::min(batch, x.size(0) - b))));
  return parts.size() == 1 ? parts[0] : cat(parts, 0);
}

}  // namespace

Encoding encode(const AmortizedModel& m, const Tensor& x, int64_t batch) {
  Encoding e;
  bool moments = true;
  e.loc = by_rows(x, batch, "encode", [&](const Tensor& xb) {
    const dist::AnyDistribution q = m.posterior(xb);
    moments = q.has_moments();
    return location(q);
  });
  if (moments)
    e.scale = by_rows(x, batch, "encode", [&](const Tensor& xb) { return sqrt(m.posterior(xb).variance()); });
  return e;
}

Tensor decode(const LatentModel& m, const Tensor& z, int64_t batch) {
  return by_rows(z, batch, "decode", [&](const Tensor& zb) {
    const Tensor mean = location(m.likelihood(zb));
    return reshape(mean, {zb.size(0), mean.numel() / zb.size(0)});
  });
}

Scores score(const AmortizedModel& m, const Tensor& x, Generator& gen, int k, int64_t batch) {
  ELBO_CHECK(k >= 0, "score: k = {} importance samples must not be negative", k);
  Scores s;
  s.elbo = by_rows(x, batch, "score", [&](const Tensor& xb) { return elbo(m, xb, gen).elbo; });
  if (k > 0)
    s.loglik = by_rows(x, std::max<int64_t>(1, std::min<int64_t>(batch, 20000 / k)), "score",
                       [&](const Tensor& xb) { return iwae(m, xb, gen, k); });
  return s;
}

}  // namespace elbo::models
