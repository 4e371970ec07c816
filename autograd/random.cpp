#include "autograd/random.h"

#include <cmath>
#include <numbers>

namespace elbo {
namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Generator::Generator(uint64_t seed) {
  for (auto& w : s_) w = splitmix64(seed);
}

uint64_t Generator::next_u64() {  // xoshiro256**
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Generator::uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }

double Generator::normal() {
  if (has_cached_) {
    has_cached_ = false;
    return cached_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  cached_ = r * std::sin(2 * std::numbers::pi * u2);
  has_cached_ = true;
  return r * std::cos(2 * std::numbers::pi * u2);
}

uint64_t Generator::below(uint64_t n) {  // Lemire's nearly-divisionless method
  if (n == 0) return 0;
  __uint128_t m = __uint128_t(next_u64()) * n;
  uint64_t lo = uint64_t(m);
  if (lo < n) {
    const uint64_t threshold = (0 - n) % n;
    while (lo < threshold) {
      m = __uint128_t(next_u64()) * n;
      lo = uint64_t(m);
    }
  }
  return uint64_t(m >> 64);
}

}  // namespace elbo
