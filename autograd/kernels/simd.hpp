#pragma once
// SIMD kernels, written once and templated on the xsimd architecture. Included only by arch_*.cpp.
// Each loop runs whole batches and finishes the tail by padding one batch in an aligned stack buffer, so
// every element goes through the same vector code. NOTE: keep std containers and std::function out of
// this file (see table.h).
#include <xsimd/xsimd.hpp>

#include "table.h"

namespace elbo::kernels::simd {

template <class B> B sigmoid(B x) { return B(1) / (B(1) + xsimd::exp(-x)); }
// softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow for large |x|
template <class B> B softplus(B x) { return xsimd::max(x, B(0)) + xsimd::log1p(xsimd::exp(-xsimd::abs(x))); }

template <class B, class T> B unary_one(Unary op, B x, T p0, T p1) {
  switch (op) {
    case Unary::neg: return -x;
    case Unary::exp: return xsimd::exp(x);
    case Unary::log: return xsimd::log(x);
    case Unary::log1p: return xsimd::log1p(x);
    case Unary::expm1: return xsimd::expm1(x);
    case Unary::sqrt: return xsimd::sqrt(x);
    case Unary::abs: return xsimd::abs(x);
    case Unary::sigmoid: return sigmoid(x);
    case Unary::tanh: return xsimd::tanh(x);
    case Unary::relu: return xsimd::max(x, B(0));
    case Unary::softplus: return softplus(x);
    case Unary::log_sigmoid: return -softplus(-x);
    case Unary::elu: return xsimd::select(x > B(0), x, B(p0) * xsimd::expm1(x));
    case Unary::leaky_relu: return xsimd::select(x > B(0), x, B(p0) * x);
    case Unary::pow_scalar: return xsimd::pow(x, B(p0));
    case Unary::clamp: return xsimd::min(xsimd::max(x, B(p0)), B(p1));
    case Unary::affine: return xsimd::fma(x, B(p0), B(p1));
    case Unary::square: return x * x;
    case Unary::reciprocal: return B(1) / x;
    case Unary::sign: return xsimd::select(x > B(0), B(1), xsimd::select(x < B(0), B(-1), B(0)));
    case Unary::step: return xsimd::select(x > B(0), B(1), B(0));
    case Unary::count: break;
  }
  return x;
}

template <class Arch, class T> void unary(Unary op, const T* x, T* y, int64_t n, T p0, T p1) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) unary_one(op, B::load_unaligned(x + i), p0, p1).store_unaligned(y + i);
  if (i < n) {
    alignas(64) T buf[W] = {};
    for (int64_t j = 0; j < n - i; ++j) buf[j] = x[i + j];
    unary_one(op, B::load_aligned(buf), p0, p1).store_aligned(buf);
    for (int64_t j = 0; j < n - i; ++j) y[i + j] = buf[j];
  }
}

template <class B> B mask(typename B::batch_bool_type c) { return xsimd::select(c, B(1), B(0)); }

template <class B> B binary_one(Binary op, B a, B b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
    case Binary::pow: return xsimd::pow(a, b);
    case Binary::maximum: return xsimd::max(a, b);
    case Binary::minimum: return xsimd::min(a, b);
    case Binary::eq: return mask<B>(a == b);
    case Binary::ne: return mask<B>(a != b);
    case Binary::lt: return mask<B>(a < b);
    case Binary::le: return mask<B>(a <= b);
    case Binary::gt: return mask<B>(a > b);
    case Binary::ge: return mask<B>(a >= b);
    case Binary::relu_grad: return xsimd::select(b > B(0), a, B(0));
    case Binary::sigmoid_grad: return a * b * (B(1) - b);
    case Binary::tanh_grad: return a * (B(1) - b * b);
    case Binary::bce_logits: return softplus(a) - a * b;
    case Binary::sigmoid_sub: return sigmoid(a) - b;
    case Binary::count: break;
  }
  return a;
}

template <class Arch, class T>
void binary(Binary op, const T* a, int64_t na, const T* b, int64_t nb, T* y, int64_t n) {
  if (n <= 0) return;  // NOTE: empty operands may be null; a[0] below would read past them
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  const bool va = na != 1 || n == 1, vb = nb != 1 || n == 1;
  const B sa(a[0]), sb(b[0]);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const B x = va ? B::load_unaligned(a + i) : sa;
    const B z = vb ? B::load_unaligned(b + i) : sb;
    binary_one(op, x, z).store_unaligned(y + i);
  }
  if (i < n) {
    alignas(64) T ba[W] = {}, bb[W] = {};
    for (int64_t j = 0; j < n - i; ++j) {
      ba[j] = va ? a[i + j] : a[0];
      bb[j] = vb ? b[i + j] : b[0];
    }
    binary_one(op, B::load_aligned(ba), B::load_aligned(bb)).store_aligned(ba);
    for (int64_t j = 0; j < n - i; ++j) y[i + j] = ba[j];
  }
}

// Four independent accumulators, then one horizontal add: fixed order for a given n and arch.
template <class Arch, class T> T sum(const T* x, int64_t n) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  B s0(T(0)), s1(T(0)), s2(T(0)), s3(T(0));
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    s0 += B::load_unaligned(x + i);
    s1 += B::load_unaligned(x + i + W);
    s2 += B::load_unaligned(x + i + 2 * W);
    s3 += B::load_unaligned(x + i + 3 * W);
  }
  for (; i + W <= n; i += W) s0 += B::load_unaligned(x + i);
  T s = xsimd::hadd((s0 + s1) + (s2 + s3));
  for (; i < n; ++i) s += x[i];
  return s;
}

// Lanes count in T (exact: dispatch passes blocks of 2^14 elements), summed once at the end; the tail is padded
// with lo, which passes.
template <class Arch, class T> int64_t count_outside(const T* x, int64_t n, T lo, T hi) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  const B l(lo), h(hi), one(T(1)), zero(T(0));
  B bad(T(0));
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const B v = B::load_unaligned(x + i);
    bad += xsimd::select((v >= l) & (v <= h), zero, one);
  }
  if (i < n) {
    alignas(64) T buf[W];
    for (int64_t j = 0; j < W; ++j) buf[j] = i + j < n ? x[i + j] : lo;
    const B v = B::load_aligned(buf);
    bad += xsimd::select((v >= l) & (v <= h), zero, one);
  }
  return int64_t(xsimd::hadd(bad));
}

template <class Arch, class T> void add_into(const T* x, T* y, int64_t n) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  int64_t i = 0;
  for (; i + W <= n; i += W) (B::load_unaligned(y + i) + B::load_unaligned(x + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += x[i];
}

// Adam: one pass over p, g, m, v (and vmax). weight_decay != 0 adds L2 to the gradient (Adam);
// decoupled_scale != 1 shrinks p first (AdamW: 1 - lr * wd).
template <class Arch, class T>
void adam(T* p, const T* g, T* m, T* v, T* vmax, int64_t n, T beta1, T beta2, T step_size, T inv_bc2_sqrt, T eps,
          T weight_decay, T decoupled_scale) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  auto one = [&](auto pp, auto gg, auto mm, auto vv, auto vmx, auto wd, auto ds, auto b1, auto b2, auto ss, auto ib,
                 auto ep, auto& po, auto& mo, auto& vo, auto& vmo) {
    gg = gg + wd * pp;
    pp = pp * ds;
    mo = mm * b1 + (decltype(b1)(1) - b1) * gg;
    vo = vv * b2 + (decltype(b2)(1) - b2) * gg * gg;
    vmo = vmax ? xsimd::max(vmx, vo) : vo;
    po = pp - ss * (mo / (xsimd::sqrt(vmo) * ib + ep));
  };
  int64_t i = 0;
  const B wd(weight_decay), ds(decoupled_scale), b1(beta1), b2(beta2), ss(step_size), ib(inv_bc2_sqrt), ep(eps);
  for (; i + W <= n; i += W) {
    B po, mo, vo, vmo;
    const B vmx = vmax ? B::load_unaligned(vmax + i) : B(T(0));
    one(B::load_unaligned(p + i), B::load_unaligned(g + i), B::load_unaligned(m + i), B::load_unaligned(v + i), vmx, wd,
        ds, b1, b2, ss, ib, ep, po, mo, vo, vmo);
    po.store_unaligned(p + i);
    mo.store_unaligned(m + i);
    vo.store_unaligned(v + i);
    if (vmax) vmo.store_unaligned(vmax + i);
  }
  if (i < n) {  // the tail through one padded batch
    alignas(64) T bp[W] = {}, bg[W] = {}, bm[W] = {}, bv[W] = {}, bx[W] = {};
    for (int64_t j = 0; j < n - i; ++j) {
      bp[j] = p[i + j], bg[j] = g[i + j], bm[j] = m[i + j], bv[j] = v[i + j];
      if (vmax) bx[j] = vmax[i + j];
    }
    B po, mo, vo, vmo;
    one(B::load_aligned(bp), B::load_aligned(bg), B::load_aligned(bm), B::load_aligned(bv), B::load_aligned(bx), wd, ds,
        b1, b2, ss, ib, ep, po, mo, vo, vmo);
    po.store_aligned(bp), mo.store_aligned(bm), vo.store_aligned(bv), vmo.store_aligned(bx);
    for (int64_t j = 0; j < n - i; ++j) {
      p[i + j] = bp[j], m[i + j] = bm[j], v[i + j] = bv[j];
      if (vmax) vmax[i + j] = bx[j];
    }
  }
}

// Runs f over n elements of NI input rows and NO output rows, W lanes at a time; the tail goes through one
// zero-padded batch, so every element takes the same vector code. Outputs may alias inputs (each batch is
// loaded whole before it is stored).
template <class Arch, class T, size_t NI, size_t NO, class F>
void rowwise(int64_t n, const T* const (&in)[NI], T* const (&out)[NO], F f) {
  using B = xsimd::batch<T, Arch>;
  constexpr int64_t W = B::size;
  B a[NI], r[NO];
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    for (size_t k = 0; k < NI; ++k) a[k] = B::load_unaligned(in[k] + i);
    f(a, r);
    for (size_t k = 0; k < NO; ++k) r[k].store_unaligned(out[k] + i);
  }
  if (i < n) {
    alignas(64) T buf[NI > NO ? NI : NO][W];
    for (size_t k = 0; k < NI; ++k) {
      for (int64_t j = 0; j < W; ++j) buf[k][j] = i + j < n ? in[k][i + j] : T(0);
      a[k] = B::load_aligned(buf[k]);
    }
    f(a, r);
    for (size_t k = 0; k < NO; ++k) {
      r[k].store_aligned(buf[k]);
      for (int64_t j = 0; j < n - i; ++j) out[k][i + j] = buf[k][j];
    }
  }
}

// GRU cell, one row of h units (torch's gate order r|z|n); see kernels.h for the layout of s.
template <class Arch, class T> void gru_cell(int64_t h, const T* x, T* s, const T* hprev, T* hnew) {
  using B = xsimd::batch<T, Arch>;
  const T* const in[7] = {x, x + h, x + 2 * h, s, s + h, s + 2 * h, hprev};
  T* const out[5] = {s, s + h, s + 2 * h, s + 3 * h, hnew};
  rowwise<Arch, T>(h, in, out, [](const B* a, B* r) {
    const B rg = sigmoid(a[0] + a[3]), z = sigmoid(a[1] + a[4]), n = xsimd::tanh(xsimd::fma(rg, a[5], a[2]));
    r[0] = rg, r[1] = z, r[2] = n, r[3] = a[5], r[4] = xsimd::fma(z, a[6] - n, n);
  });
}

template <class Arch, class T>
void gru_cell_grad(int64_t h, const T* s, const T* hprev, T* dh, T* dx, T* dhp) {
  using B = xsimd::batch<T, Arch>;
  const T* const in[6] = {s, s + h, s + 2 * h, s + 3 * h, hprev, dh};
  T* const out[7] = {dx, dx + h, dx + 2 * h, dhp, dhp + h, dhp + 2 * h, dh};
  rowwise<Arch, T>(h, in, out, [](const B* a, B* r) {
    const B rg = a[0], z = a[1], n = a[2], hn = a[3], g = a[5], one(T(1));
    const B dn = g * (one - z) * (one - n * n), dz = g * (a[4] - n) * z * (one - z);
    const B dr = dn * hn * rg * (one - rg);
    r[0] = dr, r[1] = dz, r[2] = dn, r[3] = dr, r[4] = dz, r[5] = dn * rg, r[6] = g * z;
  });
}

// LSTM cell, one row of h units (torch's gate order i|f|g|o); see kernels.h for the layout of s.
template <class Arch, class T> void lstm_cell(int64_t h, const T* x, T* s, const T* cprev, T* cnew, T* hnew) {
  using B = xsimd::batch<T, Arch>;
  const T* const in[9] = {x, x + h, x + 2 * h, x + 3 * h, s, s + h, s + 2 * h, s + 3 * h, cprev};
  T* const out[8] = {s, s + h, s + 2 * h, s + 3 * h, s + 4 * h, s + 5 * h, cnew, hnew};
  rowwise<Arch, T>(h, in, out, [](const B* a, B* r) {
    const B i = sigmoid(a[0] + a[4]), f = sigmoid(a[1] + a[5]), g = xsimd::tanh(a[2] + a[6]);
    const B o = sigmoid(a[3] + a[7]), c = xsimd::fma(f, a[8], i * g), tc = xsimd::tanh(c);
    r[0] = i, r[1] = f, r[2] = g, r[3] = o, r[4] = a[8], r[5] = tc, r[6] = c, r[7] = o * tc;
  });
}

template <class Arch, class T> void lstm_cell_grad(int64_t h, const T* s, const T* dh, T* dc, T* dg) {
  using B = xsimd::batch<T, Arch>;
  const T* const in[8] = {s, s + h, s + 2 * h, s + 3 * h, s + 4 * h, s + 5 * h, dh, dc};
  T* const out[5] = {dg, dg + h, dg + 2 * h, dg + 3 * h, dc};
  rowwise<Arch, T>(h, in, out, [](const B* a, B* r) {
    const B i = a[0], f = a[1], g = a[2], o = a[3], tc = a[5], one(T(1));
    const B c = xsimd::fma(a[6] * o, one - tc * tc, a[7]);
    r[0] = c * g * i * (one - i), r[1] = c * a[4] * f * (one - f), r[2] = c * i * (one - g * g);
    r[3] = a[6] * tc * o * (one - o), r[4] = c * f;
  });
}

}  // namespace elbo::kernels::simd
