#pragma once
// KL(p || q): the whole registry, one list of pairs (ELBO_KL_PAIRS below), each formula derived or cited
// in kl.cpp. Registered: Normal||Normal, Bernoulli||Bernoulli, Categorical||Categorical,
// OneHotCategorical||OneHotCategorical, ContinuousBernoulli||ContinuousBernoulli, the pairs of
// MultivariateNormal, LowRankMultivariateNormal and Independent<Normal> (one event dim), and
// Independent<P>||Independent<Q> whenever P||Q is registered.
// The result has the (broadcast) batch shape; it is differentiable in both arguments' parameters.
//
// The list is the one registration: it declares the overloads here and fills the run-time table that
// AnyDistribution's kl_divergence and has_kl look up (any.cpp), the elementwise pairs also as
// Independent<P>||Independent<Q>. Adding a pair is one ELBO_KL_PAIRS entry and its formula in kl.cpp.
// With static types, an unregistered pair does not compile: overload resolution picks the deleted
// catch-all below, and the compiler's "use of deleted function ... [with P = Normal; Q = Bernoulli]" names
// both types. For pairs without a closed form (and for the relaxed families), use kl_divergence_mc.
#include "bernoulli.h"
#include "categorical.h"
#include "continuous_bernoulli.h"
#include "independent.h"
#include "multivariate_normal.h"
#include "normal.h"

namespace elbo::dist {

// X(P, Q) for every closed-form pair. ELBO_KL_ELEMENTWISE: families over scalars, whose Independent
// wrappers get the pair too; ELBO_KL_EVENT: the Gaussians with covariance (multivariate_normal.h): full ||
// full in closed form, the low-rank family and a diagonal Normal over one event dim (Independent<Normal>)
// through their dense form.
#define ELBO_KL_ELEMENTWISE(X)                 \
  X(Normal, Normal)                            \
  X(Bernoulli, Bernoulli)                      \
  X(Categorical, Categorical)                  \
  X(OneHotCategorical, OneHotCategorical)      \
  X(ContinuousBernoulli, ContinuousBernoulli)
#define ELBO_KL_EVENT(X)                                      \
  X(MultivariateNormal, MultivariateNormal)                   \
  X(LowRankMultivariateNormal, LowRankMultivariateNormal)     \
  X(LowRankMultivariateNormal, MultivariateNormal)            \
  X(MultivariateNormal, LowRankMultivariateNormal)            \
  X(MultivariateNormal, Independent<Normal>)                  \
  X(Independent<Normal>, MultivariateNormal)                  \
  X(LowRankMultivariateNormal, Independent<Normal>)           \
  X(Independent<Normal>, LowRankMultivariateNormal)
#define ELBO_KL_PAIRS(X) ELBO_KL_ELEMENTWISE(X) ELBO_KL_EVENT(X)

#define ELBO_KL_DECLARE(P, Q) Tensor kl_divergence(const P& p, const Q& q);
ELBO_KL_PAIRS(ELBO_KL_DECLARE)
#undef ELBO_KL_DECLARE

// Catch-all for unregistered pairs: with static types a compile error. Erased pairs (AnyDistribution,
// any.h) are looked up at run time, and a miss is an Error naming both families.
template <class P, class Q> Tensor kl_divergence(const P& p, const Q& q) = delete;

// Is KL(P || Q) registered? (false for the deleted catch-all)
template <class P, class Q>
concept HasKL = requires(const P& p, const Q& q) {
  { kl_divergence(p, q) } -> std::same_as<Tensor>;
};

// Independent pairs sum the base KL over the reinterpreted dims (torch's _kl_independent_independent);
// both must reinterpret the same number of dims.
template <class P, class Q>
  requires HasKL<P, Q>
Tensor kl_divergence(const Independent<P>& p, const Independent<Q>& q) {
  ELBO_CHECK_VALUE(p.reinterpreted_batch_ndims() == q.reinterpreted_batch_ndims(),
                   "kl_divergence: Independent distributions reinterpret different numbers of batch dims ({} vs {}; "
                   "event_shape {} vs {})", p.reinterpreted_batch_ndims(), q.reinterpreted_batch_ndims(),
                   p.event_shape(), q.event_shape());
  return sum_rightmost(kl_divergence(p.base_dist(), q.base_dist()), p.reinterpreted_batch_ndims());
}

// Monte Carlo estimate of KL(p || q) = E_p[log p(z) - log q(z)] from n draws z ~ p (rsample when p has
// it, so the estimate is differentiable pathwise; sample otherwise). The mean over the n draws, with p's
// batch shape. Unbiased; its standard error shrinks as 1/sqrt(n).
template <Samplable P, Distribution Q> Tensor kl_divergence_mc(const P& p, const Q& q, Generator& gen, int64_t n) {
  ELBO_CHECK_VALUE(n >= 1, "kl_divergence_mc: n must be >= 1 draws, got {}", n);
  Tensor z;
  if constexpr (Reparameterized<P>) z = p.rsample(gen, {n});
  else z = p.sample(gen, {n});
  return mean(p.log_prob(z) - q.log_prob(z), {0});
}

}  // namespace elbo::dist
