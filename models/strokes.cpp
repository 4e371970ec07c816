#include "models/strokes.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nn/json.h"
#include "nn/safetensors.h"

namespace elbo::models {
namespace {

constexpr char kMagic[8] = {'E', 'L', 'B', 'O', 'S', 'T', 'R', 'K'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeader = 32, kEntry = 8, kPoint = 5;
// The box is 1024 units wide, y from -124 to 900: the first offset is from its centre.
constexpr int kCentreX = 512, kCentreY = 388;

static_assert(std::endian::native == std::endian::little, "the strokes format is read and written little-endian");

template <class T> void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}
template <class T> T get(const std::string& s, int64_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

}  // namespace

int64_t StrokeSet::max_length() const {
  int64_t m = 0;
  for (int64_t i = 0; i < size(); ++i) m = std::max(m, length(i));
  return m;
}

void StrokeSet::add(uint32_t codepoint, std::span<const int16_t> d, std::span<const uint8_t> p) {
  ELBO_CHECK(d.size() == 2 * p.size() && !p.empty(), "strokes: a sequence needs 2 offsets per pen state, got {} and {}",
             d.size(), p.size());
  codepoints.push_back(codepoint);
  xy.insert(xy.end(), d.begin(), d.end());
  pen.insert(pen.end(), p.begin(), p.end());
  starts.push_back(int64_t(pen.size()));
}

void add_hanzi(StrokeSet& set, std::string_view text, uint32_t codepoint, const std::string& name) {
  nn::json::Value v;
  try {
    v = nn::json::parse(text);
  } catch (const nn::json::ParseError& e) {
    throw IOError(fmt::format("{}: malformed JSON at byte offset {}: {}", name, e.offset, e.what()));
  }
  const nn::json::Value* medians = nullptr;
  if (v.kind == nn::json::Value::Kind::object)
    for (const auto& m : v.object)
      if (m.key == "medians") medians = &m.value;
  if (!medians || medians->kind != nn::json::Value::Kind::array || medians->array.empty())
    throw IOError(fmt::format("{}: no non-empty \"medians\" array of strokes", name));
  std::vector<int16_t> xy;
  std::vector<uint8_t> pen;
  int px = kCentreX, py = kCentreY;
  for (size_t s = 0; s < medians->array.size(); ++s) {
    const auto& stroke = medians->array[s];
    if (stroke.kind != nn::json::Value::Kind::array || stroke.array.empty())
      throw IOError(fmt::format("{}: stroke {} is not a non-empty array of points", name, s));
    for (size_t k = 0; k < stroke.array.size(); ++k) {
      const auto& pt = stroke.array[k];
      const bool ok = pt.kind == nn::json::Value::Kind::array && pt.array.size() == 2 &&
                      pt.array[0].kind == nn::json::Value::Kind::number &&
                      pt.array[1].kind == nn::json::Value::Kind::number;
      const double x = ok ? pt.array[0].number : 0, y = ok ? pt.array[1].number : 0;
      if (!ok || !(std::abs(x) <= 4096 && std::abs(y) <= 4096))
        throw IOError(fmt::format("{}: stroke {} point {} is not [x, y] in font units within +-4096", name, s, k));
      const int ix = int(std::lround(x)), iy = int(std::lround(y));  // a few points sit on half units
      xy.push_back(int16_t(ix - px));
      xy.push_back(int16_t(iy - py));
      pen.push_back(k + 1 == stroke.array.size() ? 1 : 0);
      px = ix, py = iy;
    }
  }
  set.add(codepoint, xy, pen);
}

double offset_std(const StrokeSet& set) {
  long double s = 0, s2 = 0;
  for (const int16_t v : set.xy) s += v, s2 += (long double)v * v;
  const long double n = (long double)set.xy.size();
  ELBO_CHECK(n > 0, "strokes: no points to compute a scale from");
  return double(std::sqrt(std::max<long double>(0, s2 / n - (s / n) * (s / n))));
}

void write_strokes(const std::string& path, const StrokeSet& set) {
  ELBO_CHECK(std::isfinite(set.scale) && set.scale > 0, "{}: scale {} must be positive", path, set.scale);
  std::string out;
  out.reserve(size_t(kHeader + kEntry * set.size() + kPoint * set.points()));
  out.append(kMagic, 8);
  put<uint32_t>(out, kVersion);
  put<uint32_t>(out, uint32_t(set.size()));
  put<uint64_t>(out, uint64_t(set.points()));
  put<double>(out, set.scale);
  for (int64_t i = 0; i < set.size(); ++i) {
    put<uint32_t>(out, set.codepoints[size_t(i)]);
    put<uint32_t>(out, uint32_t(set.length(i)));
  }
  for (int64_t p = 0; p < set.points(); ++p) {
    put<int16_t>(out, set.xy[size_t(2 * p)]);
    put<int16_t>(out, set.xy[size_t(2 * p + 1)]);
    put<uint8_t>(out, set.pen[size_t(p)]);
  }
  nn::write_file_atomic(path, {std::span<const char>(out.data(), out.size())});
}

StrokeSet read_strokes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IOError(fmt::format("{}: cannot open (prepare it with `elbo-data strokes`)", path));
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string s = ss.str();
  const int64_t size = int64_t(s.size());
  const auto fail = [&](int64_t at, const std::string& what) {
    return IOError(fmt::format("{}: {} at byte offset {} (file size {})", path, what, at, size));
  };
  if (size < kHeader) throw fail(size, "truncated header (a strokes file starts with 32 bytes)");
  if (std::memcmp(s.data(), kMagic, 8) != 0) throw fail(0, "not a strokes file (no ELBOSTRK magic)");
  if (get<uint32_t>(s, 8) != kVersion) throw fail(8, fmt::format("unsupported version {}", get<uint32_t>(s, 8)));
  const int64_t n = get<uint32_t>(s, 12);
  const uint64_t npoints = get<uint64_t>(s, 16);
  StrokeSet set;
  set.scale = get<double>(s, 24);
  if (!(std::isfinite(set.scale) && set.scale > 0)) throw fail(24, fmt::format("scale {} is not positive", set.scale));
  const int64_t points_at = kHeader + kEntry * n;
  if (npoints > uint64_t(size) / kPoint) throw fail(16, fmt::format("{} points cannot fit in the file", npoints));
  const int64_t expect = points_at + kPoint * int64_t(npoints);
  if (size < expect) throw fail(size, fmt::format("truncated: {} sequences of {} points need {} bytes", n, npoints, expect));
  if (size > expect) throw fail(expect, fmt::format("{} bytes after the last point", size - expect));
  set.codepoints.reserve(size_t(n));
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t at = kHeader + kEntry * i;
    const int64_t len = get<uint32_t>(s, at + 4);
    if (len < 1) throw fail(at + 4, fmt::format("sequence {} has no points", i));
    total += len;
    if (uint64_t(total) > npoints)
      throw fail(at + 4, fmt::format("the lengths of sequences 0..{} exceed the {} points declared", i, npoints));
    set.codepoints.push_back(get<uint32_t>(s, at));
    set.starts.push_back(total);
  }
  if (uint64_t(total) != npoints)
    throw fail(points_at, fmt::format("the lengths sum to {} points, the header declares {}", total, npoints));
  set.xy.resize(size_t(2 * total));
  set.pen.resize(size_t(total));
  for (int64_t p = 0; p < total; ++p) {
    const int64_t at = points_at + kPoint * p;
    set.xy[size_t(2 * p)] = get<int16_t>(s, at);
    set.xy[size_t(2 * p + 1)] = get<int16_t>(s, at + 2);
    const uint8_t pen = get<uint8_t>(s, at + 4);
    if (pen > 1) throw fail(at + 4, fmt::format("pen state {} is not 0 or 1", pen));
    set.pen[size_t(p)] = pen;
  }
  for (int64_t i = 0; i < n; ++i)
    if (set.pen[size_t(set.starts[size_t(i + 1)] - 1)] != 1)
      throw fail(points_at + kPoint * (set.starts[size_t(i + 1)] - 1) + 4,
                 fmt::format("sequence {} does not end with the pen lifted", i));
  return set;
}

StrokeSet load_strokes(const std::string& dir, const std::string& split) {
  ELBO_CHECK_VALUE(split == "train" || split == "valid" || split == "test",
                   "strokes: split '{}' is not train, valid or test", split);
  return read_strokes(dir + "/strokes-" + split + ".bin");
}

StrokeSet head(const StrokeSet& s, int64_t n) {
  if (n >= s.size()) return s;
  StrokeSet out;
  out.scale = s.scale;
  for (int64_t i = 0; i < n; ++i) {
    const size_t a = size_t(s.starts[size_t(i)]), b = size_t(s.starts[size_t(i + 1)]);
    out.add(s.codepoints[size_t(i)], std::span(s.xy).subspan(2 * a, 2 * (b - a)), std::span(s.pen).subspan(a, b - a));
  }
  return out;
}

StrokeBatch stroke_batch(const StrokeSet& s, std::span<const int64_t> order, int64_t begin, int64_t end, DType dtype) {
  ELBO_CHECK(0 <= begin && begin < end && end <= int64_t(order.size()), "stroke_batch: rows [{}, {}) of {}", begin, end,
             order.size());
  StrokeBatch b;
  int64_t t = 0;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t k = order[size_t(i)];
    ELBO_CHECK(k >= 0 && k < s.size(), "stroke_batch: sequence {} of a set of {}", k, s.size());
    b.lengths.push_back(s.length(k));
    t = std::max(t, s.length(k));
  }
  const int64_t n = end - begin;
  std::vector<double> v(size_t(n * t * 3), 0.0);
  const double inv = 1.0 / s.scale;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = order[size_t(begin + i)], a = s.starts[size_t(k)];
    for (int64_t p = 0; p < s.length(k); ++p) {
      double* row = v.data() + (i * t + p) * 3;
      row[0] = s.xy[size_t(2 * (a + p))] * inv;
      row[1] = s.xy[size_t(2 * (a + p) + 1)] * inv;
      row[2] = s.pen[size_t(a + p)];
    }
  }
  b.x = tensor(v, {n, t, 3}, dtype);
  return b;
}

Tensor stroke5_batch(const StrokeSet& s, std::span<const int64_t> order, int64_t begin, int64_t end, DType dtype) {
  const StrokeBatch b = stroke_batch(s, order, begin, end, DType::f64);
  const int64_t n = b.x.size(0), t = b.x.size(1);
  const std::vector<double> v3 = b.x.to_vector<double>();
  std::vector<double> v5(size_t(n * t * 5), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < b.lengths[size_t(i)]; ++k) {
      const double* p = v3.data() + (i * t + k) * 3;
      double* q = v5.data() + (i * t + k) * 5;
      q[0] = p[0], q[1] = p[1];
      q[2 + (k + 1 == b.lengths[size_t(i)] ? 2 : p[2] == 1 ? 1 : 0)] = 1;  // pen down, up, end
    }
  return tensor(v5, {n, t, 5}, dtype);
}

}  // namespace elbo::models
