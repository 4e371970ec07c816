#pragma once
// Generator: a seeded, reproducible source of random numbers (xoshiro256** seeded by splitmix64, as
// described by Blackman and Vigna). uniform() has 53 random bits; normal() uses the Box-Muller
// transform and caches the second value. The same seed gives the same stream on every platform.
#include <array>
#include <cstdint>

namespace elbo {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0);
  uint64_t next_u64();
  double uniform();            // [0, 1)
  double normal();             // N(0, 1)
  uint64_t below(uint64_t n);  // uniform integer in [0, n), unbiased

  struct State {
    std::array<uint64_t, 4> s;
    double cached_normal;
    bool has_cached;
  };
  State state() const { return {s_, cached_, has_cached_}; }
  void set_state(const State& st) { s_ = st.s, cached_ = st.cached_normal, has_cached_ = st.has_cached; }

 private:
  std::array<uint64_t, 4> s_{};
  double cached_ = 0;
  bool has_cached_ = false;
};

}  // namespace elbo
