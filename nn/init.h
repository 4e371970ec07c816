#pragma once
// Initializers, as torch.nn.init: each fills a tensor in place (no gradient recorded) from an explicit
// Generator and returns it. Fans follow torch's _calculate_fan_in_and_fan_out: for a weight
// [d0, d1, k...], fan_in = d1 * prod(k) and fan_out = d0 * prod(k) (so ConvTranspose2d's [in, out, kh, kw]
// weight counts `out` as its fan_in, exactly as PyTorch does).
// Layers draw from default_generator() unless given one; manual_seed reseeds it.
#include <string_view>
#include <utility>

#include "../autograd/random.h"
#include "../autograd/tensor.h"

namespace elbo::nn {

Generator& default_generator();
void manual_seed(uint64_t seed);

namespace init {

enum class FanMode { fan_in, fan_out };

std::pair<int64_t, int64_t> fan_in_and_fan_out(const Shape& shape);  // needs >= 2 dims
// Recommended gain for a nonlinearity: linear/sigmoid 1, tanh 5/3, relu sqrt(2),
// leaky_relu sqrt(2 / (1 + param^2)), selu 3/4.
double calculate_gain(std::string_view nonlinearity, double param = 0.01);

Tensor uniform_(const Tensor& t, double lo, double hi, Generator& gen);
Tensor normal_(const Tensor& t, double mean, double std, Generator& gen);
Tensor constant_(const Tensor& t, double value);
Tensor zeros_(const Tensor& t);
Tensor ones_(const Tensor& t);
// U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)); N(0, gain^2 * 2 / (fan_in + fan_out)).
Tensor xavier_uniform_(const Tensor& t, Generator& gen, double gain = 1.0);
Tensor xavier_normal_(const Tensor& t, Generator& gen, double gain = 1.0);
// U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a); normal: std = gain / sqrt(fan).
Tensor kaiming_uniform_(const Tensor& t, Generator& gen, double a = 0, FanMode mode = FanMode::fan_in,
                        std::string_view nonlinearity = "leaky_relu");
Tensor kaiming_normal_(const Tensor& t, Generator& gen, double a = 0, FanMode mode = FanMode::fan_in,
                       std::string_view nonlinearity = "leaky_relu");

}  // namespace init
}  // namespace elbo::nn
