// Each SIMD kernel against its scalar twin at sizes 0, 1, W-1, W, W+1 and 1000, on every instruction
// set the CPU supports.
#include <autograd/kernels/kernels.h>
#include <autograd/kernels/ref.h>
#include <autograd/kernels/thread_pool.h>

#include <array>
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

namespace {
// Sizes around the micro-tile's edges: every row count of a bottom tile (m mod 6 = 0..5), one-batch and
// two-batch right tiles (n around 4, 8, 16, 32 lanes), K across a block boundary and the tall path.
template <class T> void check_gemm(const std::string& arch) {
  for (auto [m, n, k] : {std::array<int64_t, 3>{1, 1, 1}, {5, 7, 3}, {13, 33, 17}, {128, 40, 400}, {70, 300, 260},
                         {1100, 45, 300}, {2, 9, 11}, {3, 17, 8}, {4, 31, 16}, {7, 15, 23}, {8, 16, 9},
                         {9, 4, 24}, {10, 5, 40}, {11, 63, 7}, {12, 65, 33}, {6, 32, 257}}) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const auto A = values<T>(size_t(m * k), -1, 1, 1), B = values<T>(size_t(k * n), -1, 1, 2);
      auto C = values<T>(size_t(m * n), -1, 1, 3), R = C;
      const int64_t lda = ta ? m : k, ldb = tb ? k : n;
      const auto bias = values<T>(size_t(n), -1, 1, 4);
      for (int form = 0; form < 4; ++form) {  // beta 0, beta 1, beta 0 with a bias per column, alpha 1
        const T beta = form == 1 ? T(1) : T(0), alpha = form == 3 ? T(1) : T(0.5);
        const T* bp = form == 2 ? bias.data() : nullptr;
        gemm<T>(ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), n, bp);
        ref::gemm<T>(ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), n, bp);
        double worst = 0;
        for (size_t i = 0; i < C.size(); ++i) worst = std::max(worst, std::abs(double(C[i]) - double(R[i])));
        const double tol = (sizeof(T) == 4 ? 1e-4 : 1e-12) * std::sqrt(double(k));
        CHECK_MESSAGE(worst < tol, arch, " m ", m, " n ", n, " k ", k, " ta ", ta, " tb ", tb, " form ", form);
      }
    }
  }
}
}  // namespace

TEST_CASE("bce_logits_rows and its gradient match the scalar twins, in several chunks, on any thread count") {
  const std::string before(arch_name());
  const int threads = elbo::num_threads();
  for (const auto& a : archs()) {
    REQUIRE(set_arch(a));
    const int64_t rows = 5, cols = 2500;  // three chunks of 1024 per row
    const auto x = values<double>(size_t(rows * cols), -4, 4, 3), t = values<double>(size_t(rows * cols), 0, 1, 4);
    const auto gy = values<double>(size_t(rows), -2, 2, 5);
    std::vector<double> y1(static_cast<size_t>(rows)), y2(static_cast<size_t>(rows));
    std::vector<double> g(static_cast<size_t>(rows * cols));
    elbo::set_num_threads(1);
    bce_logits_rows<double>(x, t, y1, cols);
    elbo::set_num_threads(2);
    bce_logits_rows<double>(x, t, y2, cols);
    bce_logits_rows_grad<double>(x, t, gy, g, cols);
    CHECK(y1 == y2);
    for (int64_t r = 0; r < rows; ++r) {
      long double want = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const size_t i = size_t(r * cols + c);
        want += ref::binary_one<double>(Binary::bce_logits, x[i], t[i]);
        const double dx = ref::binary_one<double>(Binary::sigmoid_sub, x[i], t[i]);
        CHECK(g[i] == doctest::Approx(gy[size_t(r)] * dx).epsilon(1e-12));
      }
      CHECK(y1[size_t(r)] == doctest::Approx(double(want)).epsilon(1e-12));
    }
  }
  elbo::set_num_threads(threads);
  set_arch(before);
}

TEST_CASE("gemm matches the reference for every transpose form, edge tiles, beta and alpha, f32 and f64") {
  const std::string before(arch_name());
  for (const auto& a : archs()) {
    CAPTURE(a);
    REQUIRE(set_arch(a));
    check_gemm<float>(a);
    check_gemm<double>(a);
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

namespace {
// Geometries around the micro-tile's edges: channels below, at and past NR (8 to 32 lanes), kernels with
// more taps than one micro-kernel call takes (5x5), strides 1 to 3, padding up to 2, odd image sizes.
const ConvGeom kConvGeoms[] = {
    {1, 1, 4, 4, 1, 2, 2, 3, 3, 1, 0},       {2, 3, 5, 4, 2, 3, 2, 5, 5, 1, 1},
    {3, 2, 7, 5, 3, 3, 3, 3, 2, 2, 0},       {2, 5, 9, 8, 33, 4, 4, 4, 4, 2, 1},
    {2, 17, 6, 7, 9, 5, 5, 4, 4, 2, 2},      {3, 1, 11, 11, 31, 4, 4, 5, 5, 2, 1},
    {2, 40, 7, 7, 2, 3, 3, 3, 3, 3, 2},      {5, 8, 14, 14, 16, 4, 4, 7, 7, 2, 1},
    {1, 2, 3, 3, 3, 1, 1, 3, 3, 1, 0},       {2, 3, 5, 5, 4, 1, 1, 2, 2, 3, 0},
    // few channels and wide rows: the direct paths (lanes along rows), with several lane chunks per row
    {3, 1, 28, 28, 32, 4, 4, 14, 14, 2, 1},  {2, 2, 9, 40, 7, 3, 3, 9, 40, 1, 1},
    {2, 3, 31, 50, 5, 5, 4, 11, 17, 3, 2},   {2, 1, 12, 37, 3, 2, 5, 6, 18, 2, 1},
    // channels a multiple of every NR: the weight gradient reads its B rows in place; and enough pixels and
    // channels for whole 16 x 16 transposes between channels-last and NCHW, plus ragged edges
    {3, 32, 9, 9, 10, 3, 3, 5, 5, 2, 1},     {2, 32, 12, 12, 40, 3, 3, 6, 6, 2, 1},
    {2, 48, 11, 13, 33, 3, 3, 11, 13, 1, 1},
    // the conv VAE's stride-2 4x4 layers and variants: odd and even sizes, padding 0-2
    {3, 32, 14, 14, 64, 4, 4, 7, 7, 2, 1},   {2, 16, 9, 11, 32, 4, 4, 4, 5, 2, 1},
    {2, 16, 10, 13, 16, 4, 4, 4, 5, 2, 0},   {1, 32, 13, 12, 48, 4, 4, 7, 6, 2, 2},
};

template <class T> void check_conv_kernels(const ConvGeom& g) {
  const double tol = sizeof(T) == 4 ? 1e-5 : 1e-12;
  const int64_t nx = g.n * g.c * g.h * g.w, nw = g.o * g.c * g.kh * g.kw, ny = g.n * g.o * g.ho * g.wo;
  const auto x = values<T>(size_t(nx), -1, 1, 1), w = values<T>(size_t(nw), -1, 1, 2);
  const auto y = values<T>(size_t(ny), -1, 1, 3), bo = values<T>(size_t(g.o), -1, 1, 4);
  const auto bc = values<T>(size_t(g.c), -1, 1, 5);
  std::vector<T> work(size_t(conv_workspace(g, sizeof(T))));
  auto worst = [](const std::vector<T>& a, const std::vector<T>& b) {
    double e = 0;
    for (size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(double(a[i]) - double(b[i])) / (1 + std::abs(double(b[i]))));
    return e;
  };
  std::vector<T> out(static_cast<size_t>(ny)), want(static_cast<size_t>(ny));
  conv_forward<T>(g, x.data(), w.data(), bo.data(), out.data(), work.data());
  ref::conv_forward<T>(g, x.data(), w.data(), bo.data(), want.data());
  CHECK(worst(out, want) < tol);
  std::vector<T> gx(static_cast<size_t>(nx)), gx_want(static_cast<size_t>(nx));
  conv_input_grad<T>(g, y.data(), w.data(), bc.data(), gx.data(), work.data());
  ref::conv_input_grad<T>(g, y.data(), w.data(), bc.data(), gx_want.data());
  CHECK(worst(gx, gx_want) < tol);
  conv_input_grad<T>(g, y.data(), w.data(), nullptr, gx.data(), work.data());
  ref::conv_input_grad<T>(g, y.data(), w.data(), nullptr, gx_want.data());
  CHECK(worst(gx, gx_want) < tol);
  std::vector<T> gw(static_cast<size_t>(nw)), gw_want(static_cast<size_t>(nw));
  conv_weight_grad<T>(g, x.data(), y.data(), gw.data(), work.data());
  ref::conv_weight_grad<T>(g, x.data(), y.data(), gw_want.data());
  CHECK(worst(gw, gw_want) < tol * std::sqrt(double(g.n * g.ho * g.wo)));
}
}  // namespace

TEST_CASE("conv kernels match their scalar twins on every instruction set and thread count") {
  const std::string before(arch_name());
  const int threads = elbo::num_threads();
  for (const auto& a : archs())
    for (int t : {1, 2}) {
      REQUIRE(set_arch(a));
      elbo::set_num_threads(t);
      for (const ConvGeom& g : kConvGeoms) {
        CAPTURE(a);
        CAPTURE(t);
        CAPTURE(g.c);
        CAPTURE(g.o);
        CAPTURE(g.kh);
        CAPTURE(g.stride);
        check_conv_kernels<float>(g);
        check_conv_kernels<double>(g);
      }
    }
  elbo::set_num_threads(threads);
  set_arch(before);
}

TEST_CASE("conv kernels: results do not depend on the thread count") {
  const ConvGeom g{16, 32, 14, 14, 64, 4, 4, 7, 7, 2, 1};  // the conv VAE's middle layer
  const auto x = values<float>(size_t(g.n * g.c * g.h * g.w), -1, 1, 1);
  const auto w = values<float>(size_t(g.o * g.c * 16), -1, 1, 2), y = values<float>(size_t(g.n * g.o * 49), -1, 1, 3);
  const int threads = elbo::num_threads();
  std::vector<float> r[2][3];
  for (int t : {1, 2}) {
    elbo::set_num_threads(t);
    std::vector<float> work(size_t(conv_workspace(g, 4)));
    auto& out = r[t - 1];
    out[0].resize(y.size());
    out[1].resize(x.size());
    out[2].resize(w.size());
    conv_forward<float>(g, x.data(), w.data(), nullptr, out[0].data(), work.data());
    conv_input_grad<float>(g, y.data(), w.data(), nullptr, out[1].data(), work.data());
    conv_weight_grad<float>(g, x.data(), y.data(), out[2].data(), work.data());
  }
  elbo::set_num_threads(threads);
  for (int i = 0; i < 3; ++i) CHECK(r[0][i] == r[1][i]);
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

TEST_CASE("count_outside matches the scalar twin: NaN, infinities and the interval's ends") {
  const std::string before(arch_name());
  for (const auto& a : archs()) {
    REQUIRE(set_arch(a));
    INFO(a);
    for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(15), size_t(16), size_t(17), size_t(1000), size_t(40000)}) {
      std::vector<float> f = values<float>(n, -0.5, 1.5, n + 1);
      std::vector<double> d = values<double>(n, -0.5, 1.5, n + 2);
      for (size_t i = 0; i < n; i += 37) f[i] = d[i] = std::nan("");
      for (size_t i = 5; i < n; i += 101) f[i] = d[i] = -double(INFINITY);
      for (size_t i = 9; i < n; i += 103) f[i] = d[i] = 1.0;  // the end is inside
      for (auto [lo, hi] : {std::pair{0.0, 1.0}, std::pair{-double(INFINITY), double(INFINITY)}, std::pair{-1e300, 1e300}}) {
        CHECK(count_outside<float>(f, float(lo), float(hi)) == ref::count_outside<float>(f, float(lo), float(hi)));
        CHECK(count_outside<double>(d, lo, hi) == ref::count_outside<double>(d, lo, hi));
      }
    }
  }
  set_arch(before);
}

namespace {
// Each recurrent cell kernel and its gradient against the scalar twin, in T; rows of h units.
template <class T> void check_recurrent_cells(int64_t h) {
  const double rtol = sizeof(T) == 4 ? 5e-6 : 1e-13;
  const auto expect_close = [&](const std::vector<T>& a, const std::vector<T>& b, const char* what) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!close(a[i], b[i], rtol)) {
        FAIL_CHECK(what << " h " << h << " i " << i << ": " << a[i] << " vs " << b[i]);
        return;
      }
  };
  const size_t n = size_t(h);
  {  // GRU, with hnew aliasing hprev as the ops use it
    const auto x = values<T>(3 * n, -3, 3, 1), hp = values<T>(n, -1, 1, 2), dy = values<T>(n, -1, 1, 3);
    auto s = values<T>(4 * n, -3, 3, 4), s2 = s, h1 = hp, h2 = hp;
    kernels::gru_cell<T>(h, x.data(), s.data(), h1.data(), h1.data());
    ref::gru_cell<T>(h, x.data(), s2.data(), hp.data(), h2.data());
    expect_close(s, s2, "gru_cell s");
    expect_close(h1, h2, "gru_cell h");
    std::vector<T> d1 = dy, d2 = dy, dx1(3 * n), dx2(3 * n), dp1(3 * n), dp2(3 * n);
    kernels::gru_cell_grad<T>(h, s2.data(), hp.data(), d1.data(), dx1.data(), dp1.data());
    ref::gru_cell_grad<T>(h, s2.data(), hp.data(), d2.data(), dx2.data(), dp2.data());
    expect_close(d1, d2, "gru_cell_grad dh");
    expect_close(dx1, dx2, "gru_cell_grad dx");
    expect_close(dp1, dp2, "gru_cell_grad dhp");
  }
  {  // LSTM, with cnew aliasing cprev
    const auto x = values<T>(4 * n, -3, 3, 5), cp = values<T>(n, -2, 2, 6), dy = values<T>(n, -1, 1, 7);
    auto s = values<T>(6 * n, -3, 3, 8), s2 = s, c1 = cp, c2 = cp;
    std::vector<T> h1(n), h2(n);
    kernels::lstm_cell<T>(h, x.data(), s.data(), c1.data(), c1.data(), h1.data());
    ref::lstm_cell<T>(h, x.data(), s2.data(), cp.data(), c2.data(), h2.data());
    expect_close(s, s2, "lstm_cell s");
    expect_close(c1, c2, "lstm_cell c");
    expect_close(h1, h2, "lstm_cell h");
    auto dc1 = values<T>(n, -1, 1, 9), dc2 = dc1;
    std::vector<T> g1(4 * n), g2(4 * n);
    kernels::lstm_cell_grad<T>(h, s2.data(), dy.data(), dc1.data(), g1.data());
    ref::lstm_cell_grad<T>(h, s2.data(), dy.data(), dc2.data(), g2.data());
    expect_close(dc1, dc2, "lstm_cell_grad dc");
    expect_close(g1, g2, "lstm_cell_grad dg");
  }
}
}  // namespace

TEST_CASE("recurrent cell kernels match their scalar twins on every instruction set") {
  const std::string before(arch_name());
  for (const auto& arch : archs()) {
    CAPTURE(arch);
    REQUIRE(set_arch(arch));
    for (int64_t h : {1, 3, 7, 8, 9, 16, 17, 100}) {
      check_recurrent_cells<float>(h);
      check_recurrent_cells<double>(h);
    }
  }
  set_arch(before);
}

TEST_CASE("gemm_packed_b equals gemm for every transpose form, across K and N blocks, on every instruction set") {
  const std::string before(arch_name());
  const int prev = kernels::num_threads();
  for (const auto& arch : archs()) {
    CAPTURE(arch);
    REQUIRE(set_arch(arch));
    for (int threads : {1, 2}) {
      kernels::set_num_threads(threads);
      for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{5, 7, 3}, {64, 1100, 300}, {37, 96, 520}}) {
        for (const bool ta : {false, true})
          for (const bool tb : {false, true}) {
            CAPTURE(m);
            CAPTURE(n);
            CAPTURE(k);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(threads);
            const auto a = values<float>(size_t(m * k), -1, 1, 1), b = values<float>(size_t(k * n), -1, 1, 2);
            const auto bias = values<float>(size_t(n), -1, 1, 3);
            std::vector<float> c1 = values<float>(size_t(m * n), -1, 1, 4), c2 = c1;
            const Tensor packed = empty({packed_b_size(k, n, gemm_nr(false))});  // 64-byte aligned storage
            pack_b<float>(tb, k, n, b.data(), tb ? k : n, packed.data<float>());
            gemm_packed_b<float>(ta, m, n, k, 0.5f, a.data(), ta ? m : k, packed.data<const float>(), 1.0f, c1.data(), n,
                                 bias.data());
            gemm<float>(ta, tb, m, n, k, 0.5f, a.data(), ta ? m : k, b.data(), tb ? k : n, 1.0f, c2.data(), n, bias.data());
            for (size_t i = 0; i < c1.size(); ++i)
              if (!close(c1[i], c2[i], 1e-5)) {
                FAIL_CHECK("element " << i << ": " << c1[i] << " vs " << c2[i]);
                break;
              }
          }
      }
    }
  }
  kernels::set_num_threads(prev);
  set_arch(before);
}

TEST_CASE("gemm_batched equals gemm to the bit for small and large products, every transpose form and instruction set") {
  const std::string before(arch_name());
  const int prev = elbo::num_threads();
  auto run = [](auto zero) {
    using T = decltype(zero);
    for (const auto& [m, n, k] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 1}, {20, 20, 20}, {7, 33, 5}, {32, 32, 32}, {3, 17, 31}, {33, 20, 20}, {20, 1, 20}}) {
      for (int form = 0; form < 4; ++form) {
        const bool ta = form & 1, tb = form & 2;
        const int64_t batch = 9, lda = ta ? m : k, ldb = tb ? k : n;
        const std::vector<T> a = values<T>(size_t(batch * m * k), -1, 1, 11), b = values<T>(size_t(batch * k * n), -1, 1, 12);
        for (const bool shared_b : {false, true}) {
          CAPTURE(m);
          CAPTURE(n);
          CAPTURE(k);
          CAPTURE(form);
          CAPTURE(shared_b);
          std::vector<T> want(size_t(batch * m * n)), got(want.size(), T(7));
          const int64_t sb = shared_b ? 0 : k * n;
          for (int64_t i = 0; i < batch; ++i)
            gemm<T>(ta, tb, m, n, k, T(1), a.data() + i * m * k, lda, b.data() + i * sb, ldb, T(0),
                    want.data() + i * m * n, n);
          gemm_batched<T>(ta, tb, batch, m, n, k, a.data(), m * k, lda, b.data(), sb, ldb, got.data(), m * n, n);
          CHECK(got == want);
        }
      }
    }
  };
  for (const std::string& arch : archs()) {
    CAPTURE(arch);
    REQUIRE(set_arch(arch));
    for (int threads : {1, 2}) {
      elbo::set_num_threads(threads);
      run(float(0));
      run(double(0));
    }
  }
  set_arch(before);
  elbo::set_num_threads(prev);
}

TEST_CASE("set_flush_denormal flushes subnormal results and inputs on the caller and on every worker") {
  const std::string before(arch_name());
  const int threads = elbo::num_threads();
  const bool mode = elbo::flush_denormal();
  const auto count_nonzero = [](const elbo::Tensor& t) {
    int64_t n = 0;
    for (float v : t.to_vector<float>()) n += v != 0;
    return n;
  };
  const int64_t n = 1 << 20;  // large enough for every thread to take a chunk
  for (const auto& a : archs()) {
    CAPTURE(a);
    REQUIRE(set_arch(a));
    for (int t : {1, 2}) {
      CAPTURE(t);
      elbo::set_num_threads(t);
      const auto tiny = elbo::full({n}, 1e-20);              // a normal float; its square is subnormal
      const auto sub = elbo::full({n}, 1e-40);               // a subnormal input
      const auto m = elbo::full({64, 64}, 1e-21);            // GEMM: each sum 64e-42 is subnormal
      if (!elbo::set_flush_denormal(true)) break;            // no such mode on this CPU: nothing to test
      CHECK(count_nonzero(tiny * tiny) == 0);
      CHECK(count_nonzero(sub * 2.0) == 0);                  // read as zero
      CHECK(count_nonzero(elbo::matmul(m, m)) == 0);
      CHECK(elbo::flush_denormal());
      elbo::set_flush_denormal(false);
      CHECK(count_nonzero(tiny * tiny) == n);                // IEEE again, on every thread
      CHECK(count_nonzero(sub * 2.0) == n);
      CHECK(count_nonzero(elbo::matmul(m, m)) == 64 * 64);
      CHECK_FALSE(elbo::flush_denormal());
    }
  }
  elbo::set_flush_denormal(mode);
  elbo::set_num_threads(threads);
  set_arch(before);
}
