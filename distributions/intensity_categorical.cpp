#include "distributions/intensity_categorical.h"

namespace elbo::dist {

Tensor IntensityCategorical::level_of(const Tensor& x, int64_t levels) {
  ELBO_CHECK(x.defined() && is_floating(x.dtype()), "IntensityCategorical: intensities must be f32 or f64, got {}",
             x.defined() ? name(x.dtype()) : "undefined");
  Tensor idx = empty(x.shape(), DType::i64);
  int64_t* out = idx.data<int64_t>();
  with_float(x.dtype(), "IntensityCategorical", [&](auto t) {
    using T = decltype(t);
    const T* v = x.data<const T>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      ELBO_CHECK_VALUE(v[i] >= T(0) && v[i] <= T(1), "IntensityCategorical: value {} must be in [0, 1] (found {} at "
                       "index {})", x.shape(), v[i], i);
      out[i] = std::min<int64_t>(levels - 1, int64_t(v[i] * T(levels)));
    }
  });
  return idx;
}

Tensor IntensityCategorical::log_prob(const Tensor& x) const { return cat_.log_prob(level_of(x, levels())); }

Tensor IntensityCategorical::centres() const {
  Tensor c = empty({levels()}, cat_.dtype());
  with_float(c.dtype(), "IntensityCategorical", [&](auto t) {
    using T = decltype(t);
    for (int64_t k = 0; k < levels(); ++k) c.data<T>()[k] = T((double(k) + 0.5) / double(levels()));
  });
  return c;
}

Tensor IntensityCategorical::sample(Generator& gen, const Shape& sample_shape) const {
  NoGradGuard no_grad;
  const Tensor k = cat_.sample(gen, sample_shape);
  return (k.to(cat_.dtype()) + 0.5) / double(levels());
}

Tensor IntensityCategorical::mean() const { return sum(cat_.probs() * centres(), {-1}); }

Tensor IntensityCategorical::variance() const {
  const Tensor c = centres();
  return sum(cat_.probs() * square(c), {-1}) - square(mean());
}

}  // namespace elbo::dist
