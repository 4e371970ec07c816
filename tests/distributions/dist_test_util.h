#pragma once
// Helpers for the distributions suite: torch fixtures as tensors, a 1e-10 comparison against torch, and
// sample statistics with standard errors.
#include <cmath>
#include <string>
#include <vector>

#include "fixtures/torch_fixtures.h"
#include "test_util.h"

namespace elbo::testing {

inline Tensor fx(const fixtures::Array& a, DType d = DType::f64) { return tensor(a.values, a.shape, d); }

// Empty if t matches the torch fixture (same shape, |t - ref| <= 1e-10 (1 + |ref|), equal infinities).
inline std::string torch_mismatch(const Tensor& t, const fixtures::Array& ref, double tol = 1e-10) {
  if (t.shape() != Shape(ref.shape)) return fmt::format("shape {} vs torch {}", t.shape(), ref.shape);
  const std::vector<double> v = t.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i)
    if (!all_close({v[i]}, {ref.values[i]}, tol, tol))
      return fmt::format("element {}: {:.17g} vs torch {:.17g}", i, v[i], ref.values[i]);
  return "";
}

// Sample mean and its standard error.
struct MeanSe {
  double mean, se;
};
inline MeanSe mean_se(const std::vector<double>& x) {
  const double n = double(x.size());
  double m = 0, v = 0;
  for (double a : x) m += a;
  m /= n;
  for (double a : x) v += (a - m) * (a - m);
  return {m, std::sqrt(v / (n - 1) / n)};
}

// Column j of an [n, k] row-major sample matrix.
inline std::vector<double> column(const std::vector<double>& x, size_t k, size_t j) {
  std::vector<double> c;
  for (size_t i = j; i < x.size(); i += k) c.push_back(x[i]);
  return c;
}

}  // namespace elbo::testing

#define CHECK_TORCH(t, ref)                                                      \
  do {                                                                           \
    const std::string why_ = ::elbo::testing::torch_mismatch((t), (ref));        \
    CHECK_MESSAGE(why_.empty(), #t, " differs from torch's ", #ref, ": ", why_); \
  } while (0)

// |estimate - expected| <= 5 standard errors (plus a hair for se == 0).
#define CHECK_WITHIN_5SE(ms, expected)                                                               \
  do {                                                                                               \
    const auto ms_ = (ms);                                                                           \
    const double ex_ = (expected);                                                                   \
    CHECK_MESSAGE(std::abs(ms_.mean - ex_) <= 5 * ms_.se + 1e-12, "estimate ", ms_.mean, " +- ", ms_.se, \
                  " vs expected ", ex_);                                                             \
  } while (0)
