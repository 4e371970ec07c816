// Each SIMD kernel against its scalar twin at sizes 0, 1, W-1, W, W+1 and 1000, on every instruction
// set the CPU supports.
#include <autograd/kernels/kernels.h>
#include <autograd/kernels/ref.h>
#include <autograd/kernels/thread_pool.h>

#include <cmath>
#include <string>
#include <vector>

#include "test_util.h"

using namespace elbo;
using namespace elbo::kernels;

namespace {
std::vector<std::string> archs() {
  std::vector<std::string> out;
  const std::string before(arch_name());
  for (const char* a : {"sse2", "avx2", "avx512"})
    if (set_arch(a)) out.push_back(a);
  set_arch(before);
  return out;
}

template <class T> std::vector<T> values(size_t n, double lo, double hi, uint64_t seed) {
  Generator g(seed);
  std::vector<T> v(n);
  for (auto& x : v) x = T(lo + (hi - lo) * g.uniform());
  return v;
}

template <class T> bool close(T a, T b, double rtol) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  return std::abs(double(a) - double(b)) <= rtol * (1 + std::abs(double(b)));
}

template <class T> void check_unary_all(const std::string& arch) {
  const double rtol = sizeof(T) == 4 ? 2e-6 : 1e-13;
  const size_t w = arch == "avx512" ? 64 / sizeof(T) : arch == "avx2" ? 32 / sizeof(T) : 16 / sizeof(T);
  for (size_t n : {size_t(0), size_t(1), w - 1, w, w + 1, size_t(1000)}) {
    for (int op = 0; op < int(Unary::count); ++op) {
      const Unary u = Unary(op);
      const bool positive = u == Unary::log || u == Unary::sqrt || u == Unary::pow_scalar;
      const auto x = values<T>(n, positive ? 0.01 : -8, 8, 11 + n);
      std::vector<T> y(n), r(n);
      const T p0 = u == Unary::clamp ? T(-1) : T(0.7), p1 = T(1.5);
      unary<T>(u, x, y, p0, p1);
      ref::unary<T>(u, x, r, p0, p1);
      for (size_t i = 0; i < n; ++i)
        if (!close(y[i], r[i], rtol)) {
          FAIL_CHECK("unary op " << op << " arch " << arch << " n " << n << " i " << i << ": " << y[i] << " vs " << r[i]);
          break;
        }
    }
  }
}

template <class T> void check_binary_all(const std::string& arch) {
  const double rtol = sizeof(T) == 4 ? 2e-6 : 1e-13;
  for (size_t n : {size_t(0), size_t(1), size_t(3), size_t(7), size_t(8), size_t(9), size_t(15), size_t(16),
                   size_t(17), size_t(1000)}) {
    const auto a = values<T>(n, 0.1, 4, 3 + n), b = values<T>(n, 0.1, 4, 5 + n);
    for (int op = 0; op < int(Binary::count); ++op) {
      const Binary k = Binary(op);
      for (int form = 0; form < 3 && n > 0; ++form) {  // vector-vector, vector-scalar, scalar-vector
        std::span<const T> sa(a.data(), form == 2 ? 1 : n), sb(b.data(), form == 1 ? 1 : n);
        std::vector<T> y(n), r(n);
        binary<T>(k, sa, sb, y);
        ref::binary<T>(k, sa, sb, r);
        for (size_t i = 0; i < n; ++i)
          if (!close(y[i], r[i], rtol)) {
            FAIL_CHECK("binary op " << op << " form " << form << " arch " << arch << " n " << n << " i " << i);
            break;
          }
      }
    }
  }
}
}  // namespace

TEST_CASE("elementwise kernels match their scalar twins on every instruction set") {
  const std::string before(arch_name());
  for (const auto& a : archs()) {
    CAPTURE(a);
    REQUIRE(set_arch(a));
    check_unary_all<float>(a);
    check_unary_all<double>(a);
    check_binary_all<float>(a);
    check_binary_all<double>(a);
  }
  set_arch(before);
}

TEST_CASE("sum and reduce_sum match the scalar twin; large sums are thread-count independent") {
  const std::string before(arch_name());
  for (const auto& a : archs()) {
    REQUIRE(set_arch(a));
    for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(16), size_t(17), size_t(1000), size_t(100003)}) {
      const auto x = values<double>(n, -1, 1, n);
      CHECK(sum<double>(x) == doctest::Approx(ref::sum<double>(x)).epsilon(1e-12));
    }
    const auto big = values<float>(300001, -1, 1, 9);
    const int threads = elbo::num_threads();
    elbo::set_num_threads(1);
    const float one = sum<float>(big);
    elbo::set_num_threads(2);
    const float two = sum<float>(big);
    elbo::set_num_threads(threads);
    CHECK(one == two);
    // reduce_sum over the middle dim of [3, 5, 7] and the last dim of [4, 33]
    const auto x = values<double>(105, -1, 1, 2);
    std::vector<double> y(21);
    reduce_sum<double>(x.data(), y.data(), 3, 5, 7);
    for (int o = 0; o < 3; ++o)
      for (int i = 0; i < 7; ++i) {
        double s = 0;
        for (int k = 0; k < 5; ++k) s += x[size_t((o * 5 + k) * 7 + i)];
        CHECK(y[size_t(o * 7 + i)] == doctest::Approx(s).epsilon(1e-14));
      }
  }
  set_arch(before);
}

TEST_CASE("gemm matches the reference for every transpose form, odd sizes and beta") {
  const std::string before(arch_name());
  for (const auto& a : archs()) {
    CAPTURE(a);
    REQUIRE(set_arch(a));
    for (auto [m, n, k] : {std::array<int64_t, 3>{1, 1, 1}, {5, 7, 3}, {13, 33, 17}, {128, 40, 400}, {70, 300, 260}}) {
      for (int t = 0; t < 4; ++t) {
        const bool ta = t & 1, tb = t & 2;
        const auto A = values<float>(size_t(m * k), -1, 1, 1), B = values<float>(size_t(k * n), -1, 1, 2);
        auto C = values<float>(size_t(m * n), -1, 1, 3), R = C;
        const int64_t lda = ta ? m : k, ldb = tb ? k : n;
        for (float beta : {0.0f, 1.0f}) {
          gemm<float>(ta, tb, m, n, k, 0.5f, A.data(), lda, B.data(), ldb, beta, C.data(), n);
          ref::gemm<float>(ta, tb, m, n, k, 0.5f, A.data(), lda, B.data(), ldb, beta, R.data(), n);
          double worst = 0;
          for (size_t i = 0; i < C.size(); ++i) worst = std::max(worst, std::abs(double(C[i]) - double(R[i])));
          CHECK_MESSAGE(worst < 1e-4 * std::sqrt(double(k)), "m ", m, " n ", n, " k ", k, " ta ", ta, " tb ", tb);
        }
      }
    }
  }
  set_arch(before);
}

TEST_CASE("gemm with beta = 0 ignores NaN in C, and results do not depend on the thread count") {
  const int64_t m = 128, n = 400, k = 784;
  const auto A = values<float>(size_t(m * k), -1, 1, 1), B = values<float>(size_t(k * n), -1, 1, 2);
  std::vector<float> c1(size_t(m * n), NAN), c2(size_t(m * n), NAN);
  const int threads = elbo::num_threads();
  elbo::set_num_threads(1);
  gemm<float>(false, true, m, n, k, 1.0f, A.data(), k, B.data(), k, 0.0f, c1.data(), n);
  elbo::set_num_threads(2);
  gemm<float>(false, true, m, n, k, 1.0f, A.data(), k, B.data(), k, 0.0f, c2.data(), n);
  elbo::set_num_threads(threads);
  CHECK(c1 == c2);
  for (float v : c1) REQUIRE(std::isfinite(v));
}

TEST_CASE("thread pool: parallel_for covers the range exactly once") {
  std::vector<int> hits(10007, 0);
  parallel_for(int64_t(hits.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
  });
  for (int h : hits) REQUIRE(h == 1);
  int64_t calls = 0;
  parallel_for(10, 100, [&](int64_t b, int64_t e) { calls += e - b; });  // below the grain: one chunk
  CHECK(calls == 10);
}

TEST_CASE("set_arch refuses unknown names") {
  const std::string before(arch_name());
  CHECK(!set_arch("neon"));
  CHECK(set_arch("portable"));
  CHECK(arch_name() == "sse2");
  set_arch(before);
}

TEST_CASE("adam kernel matches its scalar twin (Adam, AdamW, amsgrad) on every instruction set") {
  const std::string before(arch_name());
  for (const auto& arch : archs()) {
    CAPTURE(arch);
    REQUIRE(set_arch(arch));
    for (int64_t n : {1, 15, 17, 1000, 40000}) {
      for (int variant = 0; variant < 3; ++variant) {
        AdamParams a{1e-3, 0.9, 0.999, 1e-8, variant == 0 ? 0.0 : 0.01, 3, variant == 1, variant == 2};
        auto p = values<double>(size_t(n), -1, 1, 1), g = values<double>(size_t(n), -1, 1, 2);
        auto m = values<double>(size_t(n), -0.1, 0.1, 3), v = values<double>(size_t(n), 0, 0.01, 4);
        auto x = values<double>(size_t(n), 0, 0.01, 5);
        auto p2 = p, m2 = m, v2 = v, x2 = x;
        kernels::adam<double>(a, p.data(), g.data(), m.data(), v.data(), a.amsgrad ? x.data() : nullptr, n);
        ref::adam<double>(a, p2.data(), g.data(), m2.data(), v2.data(), a.amsgrad ? x2.data() : nullptr, n);
        for (int64_t i = 0; i < n; ++i) {
          REQUIRE(p[size_t(i)] == doctest::Approx(p2[size_t(i)]).epsilon(1e-13));
          REQUIRE(m[size_t(i)] == doctest::Approx(m2[size_t(i)]).epsilon(1e-13));
          REQUIRE(v[size_t(i)] == doctest::Approx(v2[size_t(i)]).epsilon(1e-13));
        }
      }
    }
  }
  set_arch(before);
}
