// MD5 as RFC 1321 specifies it: 64-byte blocks, four rounds of sixteen steps on four 32-bit words,
// the message padded with 0x80, zeros and its bit length (little endian).
#include "models/checksum.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <vector>

#include "autograd/error.h"

namespace elbo::models {
namespace {

class Md5 {
 public:
  void update(const unsigned char* p, size_t n) {
    length_ += n;
    if (fill_ > 0) {
      const size_t take = std::min(n, size_t(64) - fill_);
      std::copy(p, p + take, block_.begin() + ptrdiff_t(fill_));
      fill_ += take, p += take, n -= take;
      if (fill_ < 64) return;
      compress(block_.data());
      fill_ = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress(p);
    std::copy(p, p + n, block_.begin());
    fill_ = n;
  }
  std::string hex() {
    const uint64_t bits = length_ * 8;
    const unsigned char one = 0x80, zero = 0;
    update(&one, 1);
    while (fill_ != 56) update(&zero, 1);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(bits >> (8 * i));
    update(len, 8);
    std::string out;
    for (uint32_t w : state_)
      for (int i = 0; i < 4; ++i) out += fmt::format("{:02x}", (w >> (8 * i)) & 0xff);
    return out;
  }

 private:
  static uint32_t rotl(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }
  void compress(const unsigned char* p) {
    // K[i] = floor(2^32 |sin(i + 1)|); the per-round shifts and message-word orders of RFC 1321
    static const std::array<uint32_t, 64> k = [] {
      std::array<uint32_t, 64> t{};
      for (int i = 0; i < 64; ++i) t[size_t(i)] = uint32_t(std::floor(std::fabs(std::sin(double(i + 1))) * 4294967296.0));
      return t;
    }();
    static constexpr int shift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};
    uint32_t m[16];
    for (int i = 0; i < 16; ++i)
      m[i] = uint32_t(p[4 * i]) | uint32_t(p[4 * i + 1]) << 8 | uint32_t(p[4 * i + 2]) << 16 | uint32_t(p[4 * i + 3]) << 24;
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    for (int i = 0; i < 64; ++i) {
      const int round = i / 16;
      uint32_t f = 0;
      int g = 0;
      switch (round) {
        case 0: f = (b & c) | (~b & d), g = i; break;
        case 1: f = (d & b) | (~d & c), g = (5 * i + 1) % 16; break;
        case 2: f = b ^ c ^ d, g = (3 * i + 5) % 16; break;
        default: f = c ^ (b | ~d), g = (7 * i) % 16; break;
      }
      const uint32_t next = b + rotl(a + f + k[size_t(i)] + m[g], shift[round][i % 4]);
      a = d, d = c, c = b, b = next;
    }
    state_[0] += a, state_[1] += b, state_[2] += c, state_[3] += d;
  }
  std::array<uint32_t, 4> state_{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  std::array<unsigned char, 64> block_{};
  size_t fill_ = 0;
  uint64_t length_ = 0;
};

}  // namespace

std::string md5_hex(std::string_view bytes) {
  Md5 h;
  h.update(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return h.hex();
}

std::string md5_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IOError(fmt::format("{}: cannot open", path));
  Md5 h;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    h.update(reinterpret_cast<const unsigned char*>(buf.data()), size_t(f.gcount()));
  }
  if (f.bad()) throw IOError(fmt::format("{}: read error", path));
  return h.hex();
}

}  // namespace elbo::models
