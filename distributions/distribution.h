#pragma once
// What every distribution in elbo::dist shares: the validation switch, the shape helpers and the
// concepts that stand in for torch's base class. Distributions are small value classes holding Tensor
// handles (copies share the parameters and their graph); shapes follow sample ++ batch ++ event.
// Capabilities are methods, not flags: a family without rsample simply has none, so asking for it is a
// compile error, and generic code (Independent, kl_divergence_mc) tests for it with the concepts below.
#include <concepts>
#include <string_view>

#include "../autograd/ops.h"

namespace elbo::dist {

// ---- argument validation: on by default, as torch.distributions ----
// set_validate_args sets the process-wide default; ValidateArgsGuard overrides it on this thread for
// its lifetime (restoring the previous override on exit). Shape checks always run; validation adds the
// value checks (scale > 0, probs in [0, 1], no NaN, values in the support, class indices in range),
// which read every element once.
bool validate_args();
void set_validate_args(bool on);

class ValidateArgsGuard {
 public:
  explicit ValidateArgsGuard(bool on);
  ~ValidateArgsGuard();
  ValidateArgsGuard(const ValidateArgsGuard&) = delete;
  ValidateArgsGuard& operator=(const ValidateArgsGuard&) = delete;

 private:
  int prev_;  // the previous thread override: -1 none, 0 off, 1 on
};

// Elementwise constraints; the message reads "<dist>: <what> <shape> must <phrase> (found <v> at index <i>)".
enum class Constraint {
  real,           // not NaN (infinities allowed, as torch's constraints.real)
  finite,         // neither NaN nor +-inf (for parameters whose density has no infinite limit)
  positive,       // > 0
  nonnegative,    // >= 0
  unit_interval,  // in [0, 1]
};

// Throws ValueError naming dist, what, t's shape, the constraint and the first offending element.
void check_constraint(std::string_view dist, std::string_view what, const Tensor& t, Constraint c);
// The same, only when validate_args() is on.
void validate(std::string_view dist, std::string_view what, const Tensor& t, Constraint c);

// Throws unless t is a defined f32/f64 tensor: "<dist>: <what> must be a floating-point tensor ...".
void check_floating(std::string_view dist, std::string_view what, const Tensor& t);

// numpy broadcast of a and b; the ShapeError names dist and both operands.
Shape broadcast_shape(std::string_view dist, std::string_view what_a, const Shape& a, std::string_view what_b,
                      const Shape& b);
// The same in pooled storage (no heap allocation), for constructors on a training step's path.
detail::Dims broadcast_dims(std::string_view dist, std::string_view what_a, IntList a, std::string_view what_b,
                            IntList b);
// x expanded to shape (x itself when the shapes agree, so no copy and no extra tape node).
Tensor expand_to(const Tensor& x, IntList shape);
// sample_shape ++ batch_shape ++ event_shape.
Shape extended_shape(const Shape& sample_shape, const Shape& batch_shape, const Shape& event_shape = {});
// The same in pooled storage, for a sampler's hot path (no heap allocation).
detail::Dims extended_dims(IntList sample_shape, IntList batch_shape, IntList event_shape = {});
// The same check without building the result (so it never allocates): ShapeError unless a and b broadcast.
void check_broadcast(std::string_view dist, std::string_view what_a, IntList a, std::string_view what_b, IntList b);
// Checks that value [..., event] broadcasts against batch_shape ++ event_shape (ShapeError otherwise);
// never allocates when it does.
void check_value_shape(std::string_view dist, const Tensor& value, IntList batch_shape, IntList event_shape = {});
// check_value_shape, returning the broadcast shape.
Shape value_shape(std::string_view dist, const Tensor& value, const Shape& batch_shape, const Shape& event_shape = {});
// Sums the last n dims (x itself for n == 0), as torch's _sum_rightmost.
Tensor sum_rightmost(const Tensor& x, int64_t n);

// The common floating dtype of two parameters (f64 if either is f64).
DType common_dtype(const Tensor& a, const Tensor& b);

// ---- concepts: what a type can do decides which generic code accepts it ----
template <class D>
concept Distribution = requires(const D& d, const Tensor& x) {
  { d.batch_shape() } -> std::convertible_to<Shape>;
  { d.event_shape() } -> std::convertible_to<Shape>;
  { d.log_prob(x) } -> std::same_as<Tensor>;
};
template <class D>
concept Samplable = Distribution<D> && requires(const D& d, Generator& g, const Shape& s) {
  { d.sample(g, s) } -> std::same_as<Tensor>;
};
template <class D>
concept Reparameterized = Distribution<D> && requires(const D& d, Generator& g, const Shape& s) {
  { d.rsample(g, s) } -> std::same_as<Tensor>;
};
template <class D>
concept HasEntropy = requires(const D& d) {
  { d.entropy() } -> std::same_as<Tensor>;
};
template <class D>
concept HasMoments = requires(const D& d) {
  { d.mean() } -> std::same_as<Tensor>;
  { d.variance() } -> std::same_as<Tensor>;
};

}  // namespace elbo::dist
