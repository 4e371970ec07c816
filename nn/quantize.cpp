#include "nn/quantize.h"

#include <cmath>

#include "autograd/ops.h"
#include "autograd/tape.h"

namespace elbo::nn {

VectorQuantizer::VectorQuantizer(int64_t num_codes, int64_t dim, VectorQuantizerOptions o, Generator& gen)
    : k_(num_codes), d_(dim), o_(o) {
  ELBO_CHECK_VALUE(num_codes >= 1 && dim >= 1, "VectorQuantizer: {} codes of dimension {}; both must be positive",
                   num_codes, dim);
  ELBO_CHECK_VALUE(o.ema_decay >= 0 && o.ema_decay < 1, "VectorQuantizer: ema_decay {} must be in [0, 1) (0: no EMA)",
                   o.ema_decay);
  ELBO_CHECK_VALUE(o.epsilon > 0 && std::isfinite(o.epsilon), "VectorQuantizer: epsilon {} must be positive", o.epsilon);
  ELBO_CHECK_VALUE(o.commitment >= 0 && std::isfinite(o.commitment), "VectorQuantizer: commitment {} must be >= 0",
                   o.commitment);
  ELBO_CHECK_VALUE(o.restart_after >= 0, "VectorQuantizer: restart_after {} must be >= 0", o.restart_after);
  const double limit = std::sqrt(3.0 / double(dim));
  Tensor e = init::uniform_(empty({num_codes, dim}), -limit, limit, gen);
  restart_seed_ = gen.next_u64();
  if (o.ema_decay > 0) {
    embedding_ = register_buffer("embedding", e);
    ema_count_ = register_buffer("ema_count", zeros({num_codes}));
    ema_weight_ = register_buffer("ema_weight", zeros({num_codes, dim}));
  } else {
    embedding_ = register_parameter("embedding", e);
  }
  steps_ = register_buffer("steps", zeros({}, DType::i64));
  unused_steps_ = register_buffer("unused_steps", zeros({num_codes}, DType::i64));
}

std::string VectorQuantizer::extra_repr() const {
  std::string s = fmt::format("num_codes={}, dim={}, commitment={}", k_, d_, o_.commitment);
  if (o_.ema_decay > 0) s += fmt::format(", ema_decay={}, epsilon={}", o_.ema_decay, o_.epsilon);
  if (o_.restart_after > 0) s += fmt::format(", restart_after={}", o_.restart_after);
  return s;
}

namespace {
Tensor rows_of(const char* op, const Tensor& z_e, int64_t d, DType dtype) {
  ELBO_CHECK(z_e.defined(), "VectorQuantizer::{}: undefined input", op);
  ELBO_CHECK_SHAPE(z_e.dim() >= 1 && z_e.size(-1) == d && z_e.numel() > 0,
                   "VectorQuantizer::{}: input {} must be [..., {}] with at least one vector", op, z_e.shape(), d);
  ELBO_CHECK(z_e.dtype() == dtype, "VectorQuantizer::{}: input is {}, the codebook {}", op, z_e.dtype(), dtype);
  return reshape(z_e, {-1, d});
}
}  // namespace

Tensor VectorQuantizer::nearest(const Tensor& z_e) const {
  const Tensor flat = rows_of("nearest", z_e, d_, embedding_.dtype());
  NoGradGuard ng;
  const Tensor e = embedding_.detach();
  const Tensor distance = sum(square(e), {1}) - 2.0 * matmul(flat.detach(), transpose(e, 0, 1));  // [M, K]
  const detail::Dims out(z_e.shape().begin(), z_e.shape().end() - 1);  // pooled: no heap allocation
  return reshape(argmin(distance, 1), out);
}

Tensor VectorQuantizer::lookup(const Tensor& codes) const {
  ELBO_CHECK(codes.defined() && codes.dtype() == DType::i64, "VectorQuantizer::lookup: codes must be i64");
  if (codes.numel() > 0) {
    const auto span = codes.span<const int64_t>();
    for (size_t i = 0; i < span.size(); ++i)
      ELBO_CHECK_VALUE(span[i] >= 0 && span[i] < k_, "VectorQuantizer::lookup: code {} (element {}) outside [0, {})",
                       span[i], i, k_);
  }
  return embedding(codes, embedding_);
}

Quantized VectorQuantizer::forward(const Tensor& z_e) {
  const Tensor flat = rows_of("forward", z_e, d_, embedding_.dtype());
  const Tensor codes = nearest(flat);  // [M]
  const int64_t m = codes.numel();
  Tensor counts = zeros({k_}, DType::i64);
  {
    const int64_t* c = codes.data<int64_t>();
    int64_t* n = counts.data<int64_t>();
    for (int64_t i = 0; i < m; ++i) ++n[c[i]];
  }
  double entropy = 0;
  for (int64_t v : counts.span<const int64_t>())
    if (v > 0) entropy -= double(v) / double(m) * std::log(double(v) / double(m));

  const Tensor q = embedding(codes, embedding_);  // [M, D]: a copy, so the update below does not reach it
  Tensor loss = o_.commitment * mean(square(flat - q.detach()));
  if (o_.ema_decay == 0) loss = loss + mean(square(q - flat.detach()));
  Quantized out{reshape(straight_through(flat, q), z_e.shape()), reshape(codes, detail::Dims(z_e.shape().begin(), z_e.shape().end() - 1)),
                loss, counts, std::exp(entropy)};
  if (is_training()) {
    NoGradGuard ng;
    ++steps_.data<int64_t>()[0];
    if (o_.ema_decay > 0) update_ema(flat.detach(), codes, counts);
    restart(flat.detach(), counts);
  }
  return out;
}

namespace {
template <class T>
void ema_step(T* e, T* hidden_n, T* hidden_w, const T* x, const int64_t* codes, const int64_t* counts, int64_t m,
              int64_t k, int64_t d, double g, double eps, int64_t t) {
  for (int64_t j = 0; j < k; ++j) hidden_n[j] = T(g * double(hidden_n[j]) + (1 - g) * double(counts[j]));
  // m_k <- g m_k + (1 - g) sum_{i: code i = k} x_i, as g m_k then (1 - g) x_i added row by row
  for (int64_t j = 0; j < k * d; ++j) hidden_w[j] = T(g * double(hidden_w[j]));
  for (int64_t i = 0; i < m; ++i) {
    T* w = hidden_w + codes[i] * d;
    const T* xi = x + i * d;
    for (int64_t c = 0; c < d; ++c) w[c] += T((1 - g) * double(xi[c]));
  }
  const double bias = 1 - std::pow(g, double(t));  // the debiasing of averages started at zero
  double n = 0;
  for (int64_t j = 0; j < k; ++j) n += double(hidden_n[j]) / bias;
  for (int64_t j = 0; j < k; ++j) {
    const double smoothed = (double(hidden_n[j]) / bias + eps) / (n + double(k) * eps) * n;
    for (int64_t c = 0; c < d; ++c) e[j * d + c] = T(double(hidden_w[j * d + c]) / bias / smoothed);
  }
}
}  // namespace

void VectorQuantizer::update_ema(const Tensor& flat, const Tensor& codes, const Tensor& counts) {
  const int64_t t = steps_.data<int64_t>()[0];
  const Tensor x = flat.dtype() == embedding_.dtype() ? flat : flat.to(embedding_.dtype());
  if (embedding_.dtype() == DType::f32)
    ema_step(embedding_.data<float>(), ema_count_.data<float>(), ema_weight_.data<float>(), x.data<float>(),
             codes.data<int64_t>(), counts.data<int64_t>(), codes.numel(), k_, d_, o_.ema_decay, o_.epsilon, t);
  else
    ema_step(embedding_.data<double>(), ema_count_.data<double>(), ema_weight_.data<double>(), x.data<double>(),
             codes.data<int64_t>(), counts.data<int64_t>(), codes.numel(), k_, d_, o_.ema_decay, o_.epsilon, t);
}

namespace {
template <class T>
void restart_rows(T* e, T* hidden_n, T* hidden_w, const T* x, int64_t row, int64_t code, int64_t d, double bias) {
  for (int64_t c = 0; c < d; ++c) e[code * d + c] = x[row * d + c];
  if (hidden_n == nullptr) return;
  hidden_n[code] = T(bias);  // an average count of 1 ...
  for (int64_t c = 0; c < d; ++c) hidden_w[code * d + c] = T(bias * double(x[row * d + c]));  // ... at this vector
}
}  // namespace

void VectorQuantizer::restart(const Tensor& flat, const Tensor& counts) {
  int64_t* unused = unused_steps_.data<int64_t>();
  const int64_t* n = counts.data<int64_t>();
  const int64_t m = flat.size(0);
  const bool ema = o_.ema_decay > 0;
  const int64_t step = steps_.data<int64_t>()[0];
  const double bias = ema ? 1 - std::pow(o_.ema_decay, double(step)) : 0;
  for (int64_t j = 0; j < k_; ++j) {
    unused[j] = n[j] > 0 ? 0 : unused[j] + 1;
    if (o_.restart_after == 0 || unused[j] < o_.restart_after) continue;
    Generator draw(restart_seed_ ^ (uint64_t(step) * 0x9E3779B97F4A7C15ull) ^ (uint64_t(j) * 0xBF58476D1CE4E5B9ull));
    const int64_t row = int64_t(draw.below(uint64_t(m)));
    if (embedding_.dtype() == DType::f32)
      restart_rows(embedding_.data<float>(), ema ? ema_count_.data<float>() : nullptr,
                   ema ? ema_weight_.data<float>() : nullptr, flat.data<float>(), row, j, d_, bias);
    else
      restart_rows(embedding_.data<double>(), ema ? ema_count_.data<double>() : nullptr,
                   ema ? ema_weight_.data<double>() : nullptr, flat.data<double>(), row, j, d_, bias);
    unused[j] = 0;
  }
}

}  // namespace elbo::nn
