// AnyDistribution's forwarding and the run-time KL table.
#include "distributions/any.h"

#include "distributions/chain.h"
#include "distributions/transformed.h"

#include <cxxabi.h>

#include <cstdlib>
#include <map>
#include <mutex>

namespace elbo::dist {

std::string type_name(const std::type_info& t) { return type_name(std::type_index(t)); }

std::string type_name(std::type_index t) {
  int status = 0;
  char* raw = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string s = status == 0 && raw ? raw : t.name();
  std::free(raw);
  for (const std::string_view ns : {"elbo::dist::", "elbo::"})
    for (size_t at; (at = s.find(ns)) != std::string::npos;) s.erase(at, ns.size());
  return s;
}

void throw_missing_method(const std::type_info& t, const char* what) {
  throw Error(fmt::format("{} has no {}", type_name(t), what));
}

const AnyDistribution::Concept& AnyDistribution::impl(const char* op) const {
  ELBO_CHECK(impl_, "AnyDistribution::{}: the distribution is undefined (default-constructed)", op);
  return *impl_;
}

std::type_index AnyDistribution::type() const { return impl("type").type(); }
std::string AnyDistribution::name() const { return impl_ ? type_name(impl_->type()) : "undefined"; }
Shape AnyDistribution::batch_shape() const { return impl("batch_shape").batch_shape(); }
Shape AnyDistribution::event_shape() const { return impl("event_shape").event_shape(); }
int64_t AnyDistribution::batch_ndim() const { return impl("batch_ndim").batch_ndim(); }
int64_t AnyDistribution::event_ndim() const { return impl("event_ndim").event_ndim(); }
int64_t AnyDistribution::batch_numel() const { return impl("batch_numel").batch_numel(); }
int64_t AnyDistribution::event_numel() const { return impl("event_numel").event_numel(); }
Tensor AnyDistribution::log_prob(const Tensor& value) const { return impl("log_prob").log_prob(value); }
Tensor AnyDistribution::sample(Generator& gen, const Shape& s) const { return impl("sample").sample(gen, s); }
bool AnyDistribution::has_rsample() const { return impl("has_rsample").has_rsample(); }
bool AnyDistribution::has_entropy() const { return impl("has_entropy").has_entropy(); }
bool AnyDistribution::has_moments() const { return impl("has_moments").has_moments(); }
Tensor AnyDistribution::rsample(Generator& gen, const Shape& s) const { return impl("rsample").rsample(gen, s); }
Tensor AnyDistribution::entropy() const { return impl("entropy").entropy(); }
Tensor AnyDistribution::mean() const { return impl("mean").mean(); }
Tensor AnyDistribution::variance() const { return impl("variance").variance(); }
AnyDistribution AnyDistribution::base_dist() const { return impl("base_dist").base_dist(); }
int64_t AnyDistribution::reinterpreted_batch_ndims() const {
  return impl("reinterpreted_batch_ndims").reinterpreted_batch_ndims();
}

namespace {

struct KlTable {
  std::mutex mu;
  std::map<std::pair<std::type_index, std::type_index>, KlFn> fns;
};

template <class P, class Q> void add(KlTable& t) { t.fns[{typeid(P), typeid(Q)}] = kl_entry<P, Q>(); }

// Every pair of kl.h's list, the elementwise ones also as Independent (one and more reinterpreted dims
// share the entry: the count is checked by the Independent overload).
KlTable& table() {
  static KlTable* t = [] {
    auto* k = new KlTable;  // NOTE: never destroyed, so lookups during static destruction stay valid
#define ELBO_KL_ADD(P, Q) add<P, Q>(*k);
#define ELBO_KL_ADD_INDEPENDENT(P, Q) add<P, Q>(*k), add<Independent<P>, Independent<Q>>(*k);
    ELBO_KL_ELEMENTWISE(ELBO_KL_ADD_INDEPENDENT)
    ELBO_KL_EVENT(ELBO_KL_ADD)
#undef ELBO_KL_ADD
#undef ELBO_KL_ADD_INDEPENDENT
    return k;
  }();
  return *t;
}

KlFn find(const AnyDistribution& p, const AnyDistribution& q) {
  if (!p.defined() || !q.defined()) return nullptr;
  KlTable& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  const auto it = t.fns.find({p.type(), q.type()});
  return it == t.fns.end() ? nullptr : it->second;
}

}  // namespace

void register_kl(std::type_index p, std::type_index q, KlFn fn) {
  KlTable& t = table();
  std::lock_guard<std::mutex> lock(t.mu);
  t.fns[{p, q}] = fn;
}

bool has_kl(const AnyDistribution& p, const AnyDistribution& q) { return find(p, q) != nullptr; }

Tensor kl_divergence(const AnyDistribution& p, const AnyDistribution& q) {
  ELBO_CHECK(p.defined() && q.defined(), "kl_divergence: {} distribution is undefined", p.defined() ? "q" : "p");
  const KlFn fn = find(p, q);
  ELBO_CHECK(fn, "kl_divergence: no closed form registered for KL({} || {}); use kl_divergence_mc, or register "
             "one with dist::register_kl<P, Q>()", p.name(), q.name());
  return fn(p, q);
}

Tensor location(const AnyDistribution& q) {
  if (q.has_moments()) return q.mean();
  if (const auto* t = q.target<TransformedDistribution>()) {
    Tensor z = location(t->base_dist());
    for (const TransformPtr& f : t->transforms()) z = f->forward(z);
    return z;
  }
  if (const auto* c = q.target<Chain>()) return c->location();
  throw Error(fmt::format("location: {} has no mean and is not a TransformedDistribution", q.name()));
}

}  // namespace elbo::dist
