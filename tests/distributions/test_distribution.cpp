#include <thread>

#include "dist_test_util.h"

using namespace elbo;
using namespace elbo::dist;

static_assert(Distribution<Normal> && Reparameterized<Normal> && HasEntropy<Normal> && HasMoments<Normal>);
static_assert(Samplable<Bernoulli> && !Reparameterized<Bernoulli> && HasMoments<Bernoulli>);
static_assert(Samplable<Categorical> && !Reparameterized<Categorical> && !HasMoments<Categorical>);
static_assert(Samplable<OneHotCategorical> && !Reparameterized<OneHotCategorical> && HasMoments<OneHotCategorical>);
static_assert(Reparameterized<RelaxedBernoulli> && !HasEntropy<RelaxedBernoulli>);
static_assert(Reparameterized<RelaxedOneHotCategorical> && !HasEntropy<RelaxedOneHotCategorical>);

TEST_CASE("validation is on by default; set_validate_args switches it process-wide") {
  CHECK(validate_args());
  const Tensor bad = tensor({1, -1}, {2});
  CHECK_ERROR_HAS(Normal(zeros({2}), bad), "must be > 0");
  set_validate_args(false);
  CHECK_FALSE(validate_args());
  CHECK_NOTHROW(Normal(zeros({2}), bad));
  bool other_thread = true;
  std::thread([&] { other_thread = validate_args(); }).join();
  CHECK_FALSE(other_thread);  // the default is process-wide
  set_validate_args(true);
  CHECK(validate_args());
}

TEST_CASE("ValidateArgsGuard overrides on this thread only, nests and restores") {
  {
    ValidateArgsGuard off(false);
    CHECK_FALSE(validate_args());
    bool other_thread = false;
    std::thread([&] { other_thread = validate_args(); }).join();
    CHECK(other_thread);
    {
      ValidateArgsGuard on(true);
      CHECK(validate_args());
    }
    CHECK_FALSE(validate_args());
  }
  CHECK(validate_args());
  set_validate_args(false);
  {
    ValidateArgsGuard on(true);  // an override beats the process-wide default
    CHECK(validate_args());
  }
  CHECK_FALSE(validate_args());
  set_validate_args(true);
}

TEST_CASE("check_constraint: each constraint's message names dist, what, shape and the first offender") {
  CHECK_ERROR_HAS(check_constraint("D", "x", tensor({0, 1, NAN}, {3}), Constraint::real),
                  "D: x [3] must not be NaN (found nan at index 2)");
  CHECK_ERROR_HAS(check_constraint("D", "x", tensor({0, -INFINITY}, {2}), Constraint::finite),
                  "D: x [2] must be finite (found -inf at index 1)");
  CHECK_ERROR_HAS(check_constraint("D", "x", tensor({NAN}, {1}, DType::f64), Constraint::finite),
                  "D: x [1] must be finite (found nan at index 0)");
  CHECK_ERROR_HAS(check_constraint("D", "x", tensor({1, 0}, {1, 2}, DType::f64), Constraint::positive),
                  "D: x [1, 2] must be > 0 (found 0 at index 1)");
  CHECK_ERROR_HAS(check_constraint("D", "x", tensor({-0.5}, {}), Constraint::nonnegative),
                  "D: x [] must be >= 0 (found -0.5 at index 0)");
  CHECK_ERROR_HAS(check_constraint("D", "x", tensor({0.5, 1.25}, {2}), Constraint::unit_interval),
                  "D: x [2] must be in [0, 1] (found 1.25 at index 1)");
  CHECK_NOTHROW(check_constraint("D", "x", tensor({0, 1, INFINITY}, {3}), Constraint::real));
  CHECK_NOTHROW(check_constraint("D", "x", tensor({0, 1}, {2}), Constraint::unit_interval));
  CHECK_NOTHROW(check_constraint("D", "x", zeros({0}), Constraint::positive));
  // the error type is ValueError
  CHECK_THROWS_AS(check_constraint("D", "x", tensor({-1}, {1}), Constraint::positive), ValueError);
  ValidateArgsGuard off(false);
  CHECK_NOTHROW(validate("D", "x", tensor({-1}, {1}), Constraint::positive));
}

TEST_CASE("shape helpers") {
  CHECK(extended_shape({5}, {2, 3}, {4}) == Shape{5, 2, 3, 4});
  CHECK(extended_shape({}, {}) == Shape{});
  CHECK(broadcast_shape("D", "a", {2, 1}, "b", {3}) == Shape{2, 3});
  CHECK_ERROR_HAS(broadcast_shape("D", "a", {2}, "b", {3}), "D: a [2] and b [3] cannot be broadcast together");
  CHECK_THROWS_AS(broadcast_shape("D", "a", {2}, "b", {3}), ShapeError);
  CHECK(value_shape("D", zeros({5, 1, 3}), {2, 3}) == Shape{5, 2, 3});
  CHECK(value_shape("D", zeros({4}), {2}, {4}) == Shape{2, 4});
  CHECK_NOTHROW(check_value_shape("D", zeros({5, 1, 3}), {2, 3}));
  CHECK_ERROR_HAS(check_value_shape("D", zeros({5, 4, 3}), {2, 3}), "D: value [5, 4, 3] and batch_shape ++ event_shape [2, 3] cannot be broadcast together");
  CHECK_ERROR_HAS(check_broadcast("D", "a", {2, 2}, "b", {3}), "D: a [2, 2] and b [3] cannot be broadcast together");
  CHECK_NOTHROW(check_broadcast("D", "a", {2, 1}, "b", {3}));
  CHECK_ERROR_HAS(check_value_shape("D", zeros({3, 5}), {3}, {4}), "D: value [3, 5] must end in the event_shape [4] (batch_shape [3])");
  CHECK(sum_rightmost(ones({2, 3, 4}), 2).to_vector<double>() == std::vector<double>{12, 12});
  CHECK(sum_rightmost(ones({2, 3, 4}), 1).shape() == Shape{2, 3});
  CHECK_ERROR_HAS(sum_rightmost(ones({2}), 2), "sum_rightmost: cannot sum the last 2 dims of [2]");
  const Tensor x = ones({2});
  CHECK(sum_rightmost(x, 0).same(x));
  CHECK(expand_to(x, {2}).same(x));
  CHECK(expand_to(x, {3, 2}).shape() == Shape{3, 2});
  CHECK(common_dtype(zeros({1}), zeros({1}, DType::f64)) == DType::f64);
  CHECK_ERROR_HAS(check_floating("D", "x", Tensor()), "D: x is an undefined tensor");
  CHECK_ERROR_HAS(check_floating("D", "x", arange(2)), "D: x must be a floating-point tensor (f32 or f64), got i64 [2]");
}
