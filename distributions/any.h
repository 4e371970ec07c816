#pragma once
// AnyDistribution: one type for any distribution, for code that picks its families at run time: a model's
// prior p(z), posterior q(z|x) and likelihood p(x|z), the zoo's --likelihood flag, a user's own family.
// Why erase the type rather than template the models: the families stay concept-checked value classes (a
// missing Bernoulli::rsample is a compile error there), but a model whose likelihood comes from a flag,
// and the estimators and trainer that score any model, would otherwise be templates over every
// (prior, posterior, likelihood) triple. Erasing moves those checks to run time, in this one place:
// rsample, entropy, mean and variance of a family that lacks them throw an elbo::Error naming the family,
// and has_rsample(), has_entropy(), has_moments() ask first.
//
// Any type with batch_shape(), event_shape() and log_prob(x) converts implicitly (dist::Distribution in
// distribution.h), a user's own family included. A copy shares the wrapped distribution (itself tensor
// handles, never mutated). It lives in the small-object pool (autograd/allocator.h), so wrapping one
// inside a training step does not reach the heap.
//
// kl_divergence(AnyDistribution, AnyDistribution) looks the pair of families up in one run-time table
// that holds every pair kl.h registers; register_kl<P, Q>() adds a pair (a user's own, say). A miss is an
// Error naming both families; has_kl() asks first (the ELBO uses it to fall back to Monte Carlo).
#include <memory>
#include <string>
#include <typeindex>
#include <typeinfo>

#include "kl.h"

namespace elbo::dist {

// The family's name for messages: the demangled type without namespaces, e.g. "Independent<Normal>".
std::string type_name(const std::type_info& t);
std::string type_name(std::type_index t);

class AnyDistribution {
 public:
  AnyDistribution() = default;  // undefined: defined() is false, every method throws
  template <Distribution D>
    requires(!std::same_as<std::remove_cvref_t<D>, AnyDistribution>)
  AnyDistribution(D d)  // NOLINT(google-explicit-constructor): any family converts, as a value
      : impl_(std::allocate_shared<Impl<D>>(detail::PoolAllocator<Impl<D>>(), std::move(d))) {}

  bool defined() const { return impl_ != nullptr; }
  std::type_index type() const;
  std::string name() const;  // the family, e.g. "Independent<Normal>"
  // The wrapped distribution when it is a D (as std::function::target), else nullptr.
  template <class D> const D* target() const {
    return impl_ && impl_->type() == typeid(D) ? &static_cast<const Impl<D>&>(*impl_).d : nullptr;
  }

  Shape batch_shape() const;
  Shape event_shape() const;
  // Their lengths and element counts, without building the shapes (a family may answer from its own
  // hooks: Independent does, so Independent<Normal> answers without allocating).
  int64_t batch_ndim() const;
  int64_t event_ndim() const;
  int64_t batch_numel() const;
  int64_t event_numel() const;
  Tensor log_prob(const Tensor& value) const;
  Tensor sample(Generator& gen, const Shape& sample_shape = {}) const;

  bool has_rsample() const;
  bool has_entropy() const;
  bool has_moments() const;
  Tensor rsample(Generator& gen, const Shape& sample_shape = {}) const;  // throws unless has_rsample()
  Tensor entropy() const;                                                // throws unless has_entropy()
  Tensor mean() const;                                                   // throws unless has_moments()
  Tensor variance() const;

  // When this wraps an Independent<D>: its base distribution and reinterpreted dims (for per-dimension
  // figures such as the KL per latent dim). Undefined and 0 otherwise.
  AnyDistribution base_dist() const;
  int64_t reinterpreted_batch_ndims() const;

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual std::type_index type() const = 0;
    virtual Shape batch_shape() const = 0;
    virtual Shape event_shape() const = 0;
    virtual int64_t batch_ndim() const = 0;
    virtual int64_t event_ndim() const = 0;
    virtual int64_t batch_numel() const = 0;
    virtual int64_t event_numel() const = 0;
    virtual Tensor log_prob(const Tensor& value) const = 0;
    virtual Tensor sample(Generator& gen, const Shape& s) const = 0;
    virtual bool has_rsample() const = 0;
    virtual bool has_entropy() const = 0;
    virtual bool has_moments() const = 0;
    virtual Tensor rsample(Generator& gen, const Shape& s) const = 0;
    virtual Tensor entropy() const = 0;
    virtual Tensor mean() const = 0;
    virtual Tensor variance() const = 0;
    virtual AnyDistribution base_dist() const = 0;
    virtual int64_t reinterpreted_batch_ndims() const = 0;
  };
  template <class D> struct Impl final : Concept {
    explicit Impl(D x) : d(std::move(x)) {}
    D d;
    std::type_index type() const override { return typeid(D); }
    Shape batch_shape() const override { return d.batch_shape(); }
    Shape event_shape() const override { return d.event_shape(); }
    int64_t batch_ndim() const override {
      if constexpr (requires { d.batch_ndim(); }) return d.batch_ndim();
      else return int64_t(d.batch_shape().size());
    }
    int64_t event_ndim() const override {
      if constexpr (requires { d.event_ndim(); }) return d.event_ndim();
      else return int64_t(d.event_shape().size());
    }
    int64_t batch_numel() const override {
      if constexpr (requires { d.batch_numel(); }) return d.batch_numel();
      else return numel_of(d.batch_shape());
    }
    int64_t event_numel() const override {
      if constexpr (requires { d.event_numel(); }) return d.event_numel();
      else return numel_of(d.event_shape());
    }
    Tensor log_prob(const Tensor& value) const override { return d.log_prob(value); }
    Tensor sample(Generator& gen, const Shape& s) const override {
      if constexpr (Samplable<D>) return d.sample(gen, s);
      else missing("sample");
    }
    bool has_rsample() const override { return Reparameterized<D>; }
    bool has_entropy() const override { return HasEntropy<D>; }
    bool has_moments() const override { return HasMoments<D>; }
    Tensor rsample(Generator& gen, const Shape& s) const override {
      if constexpr (Reparameterized<D>) return d.rsample(gen, s);
      else missing("rsample (it is not reparameterized)");
    }
    Tensor entropy() const override {
      if constexpr (HasEntropy<D>) return d.entropy();
      else missing("entropy");
    }
    Tensor mean() const override {
      if constexpr (HasMoments<D>) return d.mean();
      else missing("mean");
    }
    Tensor variance() const override {
      if constexpr (HasMoments<D>) return d.variance();
      else missing("variance");
    }
    AnyDistribution base_dist() const override;
    int64_t reinterpreted_batch_ndims() const override;
    [[noreturn]] void missing(const char* what) const;
  };
  template <class T> struct IsIndependent : std::false_type {};
  template <class B> struct IsIndependent<Independent<B>> : std::true_type {};

  const Concept& impl(const char* op) const;
  std::shared_ptr<const Concept> impl_;
};

template <class D> AnyDistribution AnyDistribution::Impl<D>::base_dist() const {
  if constexpr (IsIndependent<D>::value) return AnyDistribution(d.base_dist());
  else return AnyDistribution();
}
template <class D> int64_t AnyDistribution::Impl<D>::reinterpreted_batch_ndims() const {
  if constexpr (IsIndependent<D>::value) return d.reinterpreted_batch_ndims();
  else return 0;
}
[[noreturn]] void throw_missing_method(const std::type_info& t, const char* what);
template <class D> void AnyDistribution::Impl<D>::missing(const char* what) const {
  throw_missing_method(typeid(D), what);
}

// ---- KL between erased distributions: one run-time table ----
using KlFn = Tensor (*)(const AnyDistribution& p, const AnyDistribution& q);
void register_kl(std::type_index p, std::type_index q, KlFn fn);
// The table's entry for a pair kl_divergence has an overload for.
template <class P, class Q>
  requires HasKL<P, Q>
KlFn kl_entry() {
  return [](const AnyDistribution& p, const AnyDistribution& q) { return kl_divergence(*p.target<P>(), *q.target<Q>()); };
}
// Adds KL(P || Q) to the table (a later registration of the same pair replaces the earlier one).
template <class P, class Q>
  requires HasKL<P, Q>
void register_kl() {
  register_kl(typeid(P), typeid(Q), kl_entry<P, Q>());
}
bool has_kl(const AnyDistribution& p, const AnyDistribution& q);
// The registered closed form; an Error naming both families when the pair has none (use
// kl_divergence_mc, or the ELBO's Monte Carlo fallback).
Tensor kl_divergence(const AnyDistribution& p, const AnyDistribution& q);

// A point of q: its mean when the family has one; for a normalizing flow (TransformedDistribution, no
// closed-form mean) the flow applied to its base's point; for a Chain, its layers' points in turn. An
// Error names any other family.
Tensor location(const AnyDistribution& q);

}  // namespace elbo::dist
