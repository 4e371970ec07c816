#pragma once
// Helpers shared by the test suites.
#include <doctest/doctest.h>

#include <cmath>
#include <elbo/elbo.h>
#include <string>
#include <vector>

namespace elbo::testing {

// Values in [lo, hi) in f64: inputs kept off kinks and out of domains' edges.
inline Tensor uniform(const Shape& s, Generator& gen, double lo, double hi, DType d = DType::f64) {
  return (rand(s, gen, d) * (hi - lo) + lo).detach();
}

inline bool all_close(const std::vector<double>& a, const std::vector<double>& b, double rtol = 1e-6,
                      double atol = 1e-9) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    if (a[i] == b[i]) continue;  // equal infinities
    if (!(std::abs(a[i] - b[i]) <= atol + rtol * std::abs(b[i]))) return false;
  }
  return true;
}
inline bool all_close(const Tensor& a, const Tensor& b, double rtol = 1e-6, double atol = 1e-9) {
  return a.shape() == b.shape() && all_close(a.to_vector<double>(), b.to_vector<double>(), rtol, atol);
}

// Runs f and returns the elbo::Error message ("" if nothing was thrown).
template <class F> std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// The tensor named `key` in a fixture file; an elbo::Error if the fixture lacks it.
inline const Tensor& fixture_tensor(const nn::TensorFile& f, const std::string& key) {
  for (auto& [n, t] : f.tensors)
    if (n == key) return t;
  throw Error("fixture lacks " + key);
}

}  // namespace elbo::testing

// CHECK that `expr` throws elbo::Error whose message contains `needle`.
#define CHECK_ERROR_HAS(expr, needle)                                                     \
  do {                                                                                    \
    const std::string msg_ = ::elbo::testing::error_of([&] { (void)(expr); });            \
    CHECK_MESSAGE(msg_.find(needle) != std::string::npos, "error was: '", msg_, "'");     \
  } while (0)
