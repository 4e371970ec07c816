#include "ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace elbo::kernels::ref {

template <class T> T unary_one(Unary op, T x, T p0, T p1) {
  switch (op) {
    case Unary::neg: return -x;
    case Unary::exp: return std::exp(x);
    case Unary::log: return std::log(x);
    case Unary::log1p: return std::log1p(x);
    case Unary::expm1: return std::expm1(x);
    case Unary::sqrt: return std::sqrt(x);
    case Unary::abs: return std::abs(x);
    case Unary::sigmoid: return T(1) / (T(1) + std::exp(-x));
    case Unary::tanh: return std::tanh(x);
    case Unary::relu: return x > 0 ? x : T(0);
    case Unary::softplus: return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
    case Unary::log_sigmoid: return std::min(x, T(0)) - std::log1p(std::exp(-std::abs(x)));
    case Unary::elu: return x > 0 ? x : p0 * std::expm1(x);
    case Unary::leaky_relu: return x > 0 ? x : p0 * x;
    case Unary::pow_scalar: return std::pow(x, p0);
    case Unary::clamp: return std::min(std::max(x, p0), p1);
    case Unary::affine: return x * p0 + p1;
    case Unary::square: return x * x;
    case Unary::reciprocal: return T(1) / x;
    case Unary::sign: return x > 0 ? T(1) : (x < 0 ? T(-1) : T(0));
    case Unary::step: return x > 0 ? T(1) : T(0);
    case Unary::count: break;
  }
  return x;
}

template <class T> T binary_one(Binary op, T a, T b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
    case Binary::pow: return std::pow(a, b);
    case Binary::maximum: return std::max(a, b);
    case Binary::minimum: return std::min(a, b);
    case Binary::eq: return T(a == b);
    case Binary::ne: return T(a != b);
    case Binary::lt: return T(a < b);
    case Binary::le: return T(a <= b);
    case Binary::gt: return T(a > b);
    case Binary::ge: return T(a >= b);
    case Binary::relu_grad: return b > 0 ? a : T(0);
    case Binary::sigmoid_grad: return a * b * (T(1) - b);
    case Binary::tanh_grad: return a * (T(1) - b * b);
    case Binary::bce_logits: return std::max(a, T(0)) + std::log1p(std::exp(-std::abs(a))) - a * b;
    case Binary::sigmoid_sub: return T(1) / (T(1) + std::exp(-a)) - b;
    case Binary::count: break;
  }
  return a;
}

template <class T> void unary(Unary op, std::span<const T> x, std::span<T> y, T p0, T p1) {
  for (size_t i = 0; i < y.size(); ++i) y[i] = unary_one(op, x[i], p0, p1);
}

template <class T> void binary(Binary op, std::span<const T> a, std::span<const T> b, std::span<T> y) {
  for (size_t i = 0; i < y.size(); ++i) y[i] = binary_one(op, a[a.size() == 1 ? 0 : i], b[b.size() == 1 ? 0 : i]);
}

template <class T> T sum(std::span<const T> x) {
  long double s = 0;
  for (T v : x) s += v;
  return T(s);
}

template <class T> int64_t count_outside(std::span<const T> x, T lo, T hi) {
  int64_t bad = 0;
  for (T v : x) bad += !(v >= lo && v <= hi);
  return bad;
}

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc, const T* bias) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (long double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      T& out = c[i * ldc + j];
      out = T(alpha * s) + (beta == T(0) ? T(0) : beta * out) + (bias ? bias[j] : T(0));
    }
}

// Calls f(image index, weight index, output index) for every product term of the convolution.
template <class F> void conv_terms(const ConvGeom& g, F&& f) {
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t o = 0; o < g.o; ++o)
      for (int64_t oh = 0; oh < g.ho; ++oh)
        for (int64_t ow = 0; ow < g.wo; ++ow)
          for (int64_t c = 0; c < g.c; ++c)
            for (int64_t i = 0; i < g.kh; ++i)
              for (int64_t j = 0; j < g.kw; ++j) {
                const int64_t ih = oh * g.stride - g.pad + i, iw = ow * g.stride - g.pad + j;
                if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
                f(((b * g.c + c) * g.h + ih) * g.w + iw, ((o * g.c + c) * g.kh + i) * g.kw + j,
                  ((b * g.o + o) * g.ho + oh) * g.wo + ow);
              }
}

template <class T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y) {
  std::vector<long double> acc(size_t(g.n * g.o * g.ho * g.wo), 0);
  conv_terms(g, [&](int64_t xi, int64_t wi, int64_t yi) { acc[size_t(yi)] += (long double)x[xi] * w[wi]; });
  for (size_t i = 0; i < acc.size(); ++i) y[i] = T(acc[i] + (bias ? bias[int64_t(i) / (g.ho * g.wo) % g.o] : T(0)));
}

template <class T> void conv_input_grad(const ConvGeom& g, const T* y, const T* w, const T* bias, T* x) {
  std::vector<long double> acc(size_t(g.n * g.c * g.h * g.w), 0);
  conv_terms(g, [&](int64_t xi, int64_t wi, int64_t yi) { acc[size_t(xi)] += (long double)y[yi] * w[wi]; });
  for (size_t i = 0; i < acc.size(); ++i) x[i] = T(acc[i] + (bias ? bias[int64_t(i) / (g.h * g.w) % g.c] : T(0)));
}

template <class T> void conv_weight_grad(const ConvGeom& g, const T* x, const T* gy, T* gw) {
  std::vector<long double> acc(size_t(g.o * g.c * g.kh * g.kw), 0);
  conv_terms(g, [&](int64_t xi, int64_t wi, int64_t yi) { acc[size_t(wi)] += (long double)x[xi] * gy[yi]; });
  for (size_t i = 0; i < acc.size(); ++i) gw[i] = T(acc[i]);
}

// Written as torch 1.13's single-tensor Adam/AdamW reads.
template <class T> void adam(const AdamParams& a, T* p, const T* g, T* m, T* v, T* vmax, int64_t n) {
  const double bc1 = 1 - std::pow(a.beta1, double(a.step)), bc2 = 1 - std::pow(a.beta2, double(a.step));
  for (int64_t i = 0; i < n; ++i) {
    T grad = g[i];
    if (a.decoupled) p[i] *= T(1 - a.lr * a.weight_decay);
    else grad += T(a.weight_decay) * p[i];
    m[i] = m[i] * T(a.beta1) + T(1 - a.beta1) * grad;
    v[i] = v[i] * T(a.beta2) + T(1 - a.beta2) * grad * grad;
    T s = v[i];
    if (a.amsgrad) s = vmax[i] = std::max(vmax[i], v[i]);
    const T denom = std::sqrt(s) / T(std::sqrt(bc2)) + T(a.eps);
    p[i] -= T(a.lr / bc1) * m[i] / denom;
  }
}

namespace {
template <class T> T sig(T x) { return T(1) / (T(1) + std::exp(-x)); }
}  // namespace

template <class T> void gru_cell(int64_t h, const T* x, T* s, const T* hprev, T* hnew) {
  for (int64_t j = 0; j < h; ++j) {
    const T r = sig(x[j] + s[j]), z = sig(x[h + j] + s[h + j]), hn = s[2 * h + j];
    const T n = std::tanh(x[2 * h + j] + r * hn);
    s[j] = r, s[h + j] = z, s[2 * h + j] = n, s[3 * h + j] = hn;
    hnew[j] = (1 - z) * n + z * hprev[j];
  }
}

template <class T> void gru_cell_grad(int64_t h, const T* s, const T* hprev, T* dh, T* dx, T* dhp) {
  for (int64_t j = 0; j < h; ++j) {
    const T r = s[j], z = s[h + j], n = s[2 * h + j], hn = s[3 * h + j], g = dh[j];
    const T dn = g * (1 - z) * (1 - n * n), dz = g * (hprev[j] - n) * z * (1 - z), dr = dn * hn * r * (1 - r);
    dx[j] = dhp[j] = dr;
    dx[h + j] = dhp[h + j] = dz;
    dx[2 * h + j] = dn;
    dhp[2 * h + j] = dn * r;
    dh[j] = g * z;
  }
}

template <class T> void lstm_cell(int64_t h, const T* x, T* s, const T* cprev, T* cnew, T* hnew) {
  for (int64_t j = 0; j < h; ++j) {
    const T i = sig(x[j] + s[j]), f = sig(x[h + j] + s[h + j]), g = std::tanh(x[2 * h + j] + s[2 * h + j]);
    const T o = sig(x[3 * h + j] + s[3 * h + j]), cp = cprev[j], c = f * cp + i * g, tc = std::tanh(c);
    s[j] = i, s[h + j] = f, s[2 * h + j] = g, s[3 * h + j] = o, s[4 * h + j] = cp, s[5 * h + j] = tc;
    cnew[j] = c, hnew[j] = o * tc;
  }
}

template <class T> void lstm_cell_grad(int64_t h, const T* s, const T* dh, T* dc, T* dg) {
  for (int64_t j = 0; j < h; ++j) {
    const T i = s[j], f = s[h + j], g = s[2 * h + j], o = s[3 * h + j], cp = s[4 * h + j], tc = s[5 * h + j];
    const T c = dc[j] + dh[j] * o * (1 - tc * tc);
    dg[j] = c * g * i * (1 - i), dg[h + j] = c * cp * f * (1 - f), dg[2 * h + j] = c * i * (1 - g * g);
    dg[3 * h + j] = dh[j] * tc * o * (1 - o);
    dc[j] = c * f;
  }
}

#define ELBO_INSTANTIATE(T)                                                                        \
  template T unary_one<T>(Unary, T, T, T);                                                         \
  template T binary_one<T>(Binary, T, T);                                                          \
  template void unary<T>(Unary, std::span<const T>, std::span<T>, T, T);                          \
  template void binary<T>(Binary, std::span<const T>, std::span<const T>, std::span<T>);          \
  template T sum<T>(std::span<const T>);                                                          \
  template int64_t count_outside<T>(std::span<const T>, T, T);                                    \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t, const T*, int64_t, T, T*, \
                        int64_t, const T*);                                                               \
  template void adam<T>(const AdamParams&, T*, const T*, T*, T*, T*, int64_t);                        \
  template void conv_forward<T>(const ConvGeom&, const T*, const T*, const T*, T*);                      \
  template void conv_input_grad<T>(const ConvGeom&, const T*, const T*, const T*, T*);                   \
  template void conv_weight_grad<T>(const ConvGeom&, const T*, const T*, T*);                     \
  ELBO_FORWARDED_KERNELS(ELBO_INSTANTIATE_KERNEL, T)
ELBO_INSTANTIATE(float)
ELBO_INSTANTIATE(double)

}  // namespace elbo::kernels::ref
