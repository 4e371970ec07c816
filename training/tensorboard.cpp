#include "training/tensorboard.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "autograd/ops.h"

namespace elbo::training {
namespace fs = std::filesystem;

uint32_t crc32c(const void* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

namespace {
uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

// ---- protobuf wire format ----
void varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s += char((v & 0x7f) | 0x80);
    v >>= 7;
  }
  s += char(v);
}
void key(std::string& s, int field, int wire) { varint(s, uint64_t(field) << 3 | uint64_t(wire)); }
template <class T> void raw(std::string& s, T v) { s.append(reinterpret_cast<const char*>(&v), sizeof v); }  // little-endian
void f64(std::string& s, int field, double v) { key(s, field, 1), raw(s, v); }
void f32(std::string& s, int field, float v) { key(s, field, 5), raw(s, v); }
void i64(std::string& s, int field, int64_t v) { key(s, field, 0), varint(s, uint64_t(v)); }
void bytes(std::string& s, int field, const std::string& v) { key(s, field, 2), varint(s, v.size()), s += v; }
void packed(std::string& s, int field, const std::vector<double>& v) {
  std::string b;
  for (double x : v) raw(b, x);
  bytes(s, field, b);
}
std::string value(const std::string& tag, int field, const std::string& payload, bool is_float, float f) {
  std::string v;
  bytes(v, 1, tag);
  if (is_float) f32(v, field, f);
  else bytes(v, field, payload);
  std::string summary;
  bytes(summary, 1, v);  // Summary.value
  return summary;
}

double now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

std::string record(const std::string& event) {
  std::string r;
  const uint64_t n = event.size();
  raw(r, n);
  raw(r, masked(crc32c(&n, sizeof n)));
  r += event;
  raw(r, masked(crc32c(event.data(), event.size())));
  return r;
}

// Reads the records of an event file: (offset, event bytes) in order. torn_tail_ok: a run killed while
// writing leaves a partial last record; stop there instead of failing.
std::vector<std::pair<size_t, std::string>> read_records(const std::string& path, bool torn_tail_ok = false) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(fmt::format("{}: cannot read the event file", path));
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::pair<size_t, std::string>> out;
  for (size_t at = 0; at < all.size();) {
    uint64_t n = 0;
    uint32_t c1 = 0, c2 = 0;
    if (torn_tail_ok && (all.size() - at < 16 || [&] {
          std::memcpy(&n, all.data() + at, 8);
          return all.size() - at - 16 < n;
        }()))
      break;
    if (all.size() - at < 12) throw IOError(fmt::format("{}: truncated record header at byte {}", path, at));
    std::memcpy(&n, all.data() + at, 8), std::memcpy(&c1, all.data() + at + 8, 4);
    if (c1 != masked(crc32c(&n, 8))) throw IOError(fmt::format("{}: bad length checksum at byte {}", path, at));
    if (all.size() - at - 12 < n + 4) throw IOError(fmt::format("{}: truncated record at byte {}", path, at));
    std::string e = all.substr(at + 12, n);
    std::memcpy(&c2, all.data() + at + 12 + n, 4);
    if (c2 != masked(crc32c(e.data(), e.size()))) throw IOError(fmt::format("{}: bad data checksum at byte {}", path, at));
    out.emplace_back(at, std::move(e));
    at += 16 + n;
  }
  return out;
}

// Event.step (field 2) of one event, 0 when absent; only the fields this writer emits are expected.
int64_t step_of(const std::string& e, const std::string& path, size_t offset) {
  size_t i = 0;
  auto get_varint = [&]() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= e.size()) throw IOError(fmt::format("{}: malformed event at byte {}", path, offset));
      const auto b = uint8_t(e[i++]);
      v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    throw IOError(fmt::format("{}: malformed varint at byte {}", path, offset));
  };
  while (i < e.size()) {
    const uint64_t k = get_varint();
    const int field = int(k >> 3), wire = int(k & 7);
    if (field == 2 && wire == 0) return int64_t(get_varint());
    if (wire == 0) get_varint();
    else if (wire == 1) i += 8;
    else if (wire == 5) i += 4;
    else if (wire == 2) i += get_varint();
    else throw IOError(fmt::format("{}: unknown wire type {} at byte {}", path, wire, offset));
  }
  return 0;
}
}  // namespace

std::vector<int64_t> event_steps(const std::string& path) {
  std::vector<int64_t> steps;
  for (const auto& [at, e] : read_records(path)) steps.push_back(step_of(e, path, at));
  return steps;
}

SummaryWriter::SummaryWriter(const std::string& dir, int64_t resume_step) {
  fs::create_directories(dir);
  std::string kept;
  if (resume_step >= 0) {
    for (const auto& entry : fs::directory_iterator(dir))
      if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0 &&
          (path_.empty() || entry.path().string() > path_))
        path_ = entry.path().string();
    if (!path_.empty())
      for (const auto& [at, e] : read_records(path_, true))
        if (step_of(e, path_, at) <= resume_step) kept += record(e);
  }
  if (path_.empty()) path_ = (fs::path(dir) / fmt::format("events.out.tfevents.{:.0f}.elbo", now())).string();
  const std::string tmp = path_ + ".tmp";
  {
    std::ofstream w(tmp, std::ios::binary | std::ios::trunc);
    if (kept.empty()) {
      std::string e;
      f64(e, 1, now());
      bytes(e, 3, "brain.Event:2");  // the version line TensorBoard expects first
      w << record(e);
    } else {
      w << kept;
    }
    if (!w) throw IOError(fmt::format("{}: cannot write the event file", tmp));
  }
  fs::rename(tmp, path_);
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw IOError(fmt::format("{}: cannot append to the event file", path_));
}

void SummaryWriter::write_event(int64_t step, const std::string& summary) {
  std::string e;
  f64(e, 1, now());
  i64(e, 2, step);
  bytes(e, 5, summary);
  out_ << record(e);
}

void SummaryWriter::add_scalar(const std::string& tag, double v, int64_t step) {
  write_event(step, value(tag, 2, "", true, float(v)));
}

void SummaryWriter::add_image(const std::string& tag, const std::string& png, int64_t h, int64_t w, int64_t c,
                              int64_t step) {
  std::string img;
  i64(img, 1, h), i64(img, 2, w), i64(img, 3, c);
  bytes(img, 4, png);
  write_event(step, value(tag, 4, img, false, 0));
}

// Buckets evenly spaced between min and max (TensorBoard draws any bucketing); bucket_limit[i] is bucket i's
// right edge, the last one max.
void SummaryWriter::add_histogram(const std::string& tag, const Tensor& values, int64_t step, int buckets) {
  const std::vector<double> v = values.to_vector<double>();
  if (v.empty()) return;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  double sum = 0, sq = 0;
  for (double x : v) sum += x, sq += x * x;
  std::vector<double> limit(static_cast<size_t>(buckets)), count(static_cast<size_t>(buckets), 0.0);
  const double width = (*hi - *lo) / buckets;
  for (int b = 0; b < buckets; ++b) limit[size_t(b)] = b + 1 == buckets ? *hi : *lo + width * (b + 1);
  for (double x : v) count[size_t(width > 0 ? std::min(buckets - 1, int((x - *lo) / width)) : 0)] += 1;
  std::string h;
  f64(h, 1, *lo), f64(h, 2, *hi), f64(h, 3, double(v.size())), f64(h, 4, sum), f64(h, 5, sq);
  packed(h, 6, limit), packed(h, 7, count);
  write_event(step, value(tag, 5, h, false, 0));
}

}  // namespace elbo::training
