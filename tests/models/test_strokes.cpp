// Stroke data: hanzi-writer-data medians to stroke-3, the strokes file format (round trip and every
// fault named with its byte offset), the split's scale and padded batches.
#include <models/strokes.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_util.h"

using namespace elbo;
using namespace elbo::models;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / "elbo_test_strokes";
  fs::create_directories(d);
  return d / name;
}
std::string bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void write_bytes(const fs::path& p, const std::string& b) { std::ofstream(p, std::ios::binary) << b; }

// Two characters: one of two strokes (3 + 2 points), one of one stroke (1 point, a dot).
StrokeSet sample_set() {
  StrokeSet s;
  add_hanzi(s, R"({"strokes": ["M 0 0"], "medians": [[[512, 388], [522, 400], [530, 410]], [[100, 900], [100, -124]]]})",
            0x4E00, "a.json");
  add_hanzi(s, R"({"medians": [[[0, 0]]]})", 0x4E8C, "b.json");
  s.scale = 2.5;
  return s;
}
}  // namespace

TEST_CASE("strokes: medians become stroke-3 offsets from the box's centre, the pen lifting after each stroke") {
  const StrokeSet s = sample_set();
  REQUIRE(s.size() == 2);
  CHECK(s.points() == 6);
  CHECK(s.length(0) == 5);
  CHECK(s.length(1) == 1);
  CHECK(s.max_length() == 5);
  CHECK(s.codepoints == std::vector<uint32_t>{0x4E00, 0x4E8C});
  const std::vector<int16_t> xy{0, 0, 10, 12, 8, 10, -430, 490, 0, -1024, -512, -388};
  CHECK(s.xy == xy);
  CHECK(s.pen == std::vector<uint8_t>{0, 0, 1, 0, 1, 1});
  // half units round to whole ones
  StrokeSet h;
  add_hanzi(h, R"({"medians": [[[512.5, 388], [513, 389.5]]]})", 1, "h.json");
  CHECK(h.xy == std::vector<int16_t>{1, 0, 0, 2});
}

TEST_CASE("strokes: malformed character files name the file, and the byte offset for bad JSON") {
  StrokeSet s;
  CHECK_ERROR_HAS(add_hanzi(s, R"({"medians": [[[1, 2]], )", 1, "x.json"), "x.json: malformed JSON at byte offset");
  CHECK_ERROR_HAS(add_hanzi(s, R"({"strokes": []})", 1, "y.json"), "y.json: no non-empty \"medians\"");
  CHECK_ERROR_HAS(add_hanzi(s, R"({"medians": []})", 1, "y.json"), "y.json: no non-empty \"medians\"");
  CHECK_ERROR_HAS(add_hanzi(s, R"({"medians": [[]]})", 1, "z.json"), "z.json: stroke 0 is not a non-empty array");
  CHECK_ERROR_HAS(add_hanzi(s, R"({"medians": [[[1, 2], [3]]]})", 1, "w.json"), "w.json: stroke 0 point 1 is not [x, y]");
  CHECK_ERROR_HAS(add_hanzi(s, R"({"medians": [[[1, "2"]]]})", 1, "w.json"), "stroke 0 point 0");
  CHECK_ERROR_HAS(add_hanzi(s, R"({"medians": [[[1, 1e9]]]})", 1, "w.json"), "within +-4096");
  CHECK(s.size() == 0);  // nothing half-added
}

TEST_CASE("strokes file: round trip, and every fault named with the file and byte offset") {
  const StrokeSet s = sample_set();
  const fs::path p = scratch("s.bin");
  write_strokes(p.string(), s);
  const StrokeSet r = read_strokes(p.string());
  CHECK(r.scale == 2.5);
  CHECK(r.codepoints == s.codepoints);
  CHECK(r.starts == s.starts);
  CHECK(r.xy == s.xy);
  CHECK(r.pen == s.pen);
  const std::string good = bytes_of(p);
  CHECK(good.size() == 32 + 2 * 8 + 6 * 5);
  const fs::path bad = scratch("bad.bin");
  const auto with = [&](const std::string& b) {
    write_bytes(bad, b);
    return testing::error_of([&] { read_strokes(bad.string()); });
  };
  CHECK(with(good.substr(0, 20)).find("truncated header") != std::string::npos);
  CHECK(with("XXXXXXXX" + good.substr(8)).find("(no ELBOSTRK magic) at byte offset 0") != std::string::npos);
  CHECK(with(good.substr(0, good.size() - 3)).find("truncated: 2 sequences of 6 points need 78 bytes") !=
        std::string::npos);
  CHECK(with(good + "x").find("1 bytes after the last point at byte offset 78") != std::string::npos);
  std::string b = good;
  b[8] = 7;
  CHECK(with(b).find("unsupported version 7 at byte offset 8") != std::string::npos);
  b = good;
  const double neg = -1;
  std::memcpy(b.data() + 24, &neg, 8);
  CHECK(with(b).find("scale -1 is not positive at byte offset 24") != std::string::npos);
  b = good;
  b[32 + 4] = 0;  // first length 5 -> 0
  CHECK(with(b).find("sequence 0 has no points at byte offset 36") != std::string::npos);
  b = good;
  b[32 + 4] = 4;  // lengths 4 + 1 != 6
  CHECK(with(b).find("the lengths sum to 5 points, the header declares 6") != std::string::npos);
  b = good;
  b[32 + 4] = 9;
  CHECK(with(b).find("exceed the 6 points declared") != std::string::npos);
  b = good;
  b[48 + 4] = 2;  // first point's pen
  CHECK(with(b).find("pen state 2 is not 0 or 1 at byte offset 52") != std::string::npos);
  b = good;
  b[48 + 4 * 5 + 4] = 0;  // the first sequence's last point keeps the pen down
  CHECK(with(b).find("sequence 0 does not end with the pen lifted at byte offset 72") != std::string::npos);
  b = good;
  const uint64_t huge = uint64_t(1) << 62;
  std::memcpy(b.data() + 16, &huge, 8);
  CHECK(with(b).find("points cannot fit in the file at byte offset 16") != std::string::npos);
  CHECK_ERROR_HAS(read_strokes(scratch("missing.bin").string()), "missing.bin: cannot open (prepare it with `elbo-data strokes`)");
  CHECK_ERROR_HAS(load_strokes(scratch("").string(), "dev"), "split 'dev' is not train, valid or test");
}

TEST_CASE("strokes: the scale is the offsets' standard deviation; batches are padded and scaled") {
  StrokeSet s;
  const std::vector<int16_t> xy{3, -1, 1, 1};
  const std::vector<uint8_t> pen{0, 1};
  s.add(7, xy, pen);
  CHECK(offset_std(s) == doctest::Approx(std::sqrt(2.0)));  // values 3, -1, 1, 1: mean 1, variance 8/4
  const StrokeSet t = sample_set();
  const std::vector<int64_t> order{1, 0};
  const StrokeBatch b = stroke_batch(t, order, 0, 2);
  CHECK(b.lengths == std::vector<int64_t>{1, 5});
  REQUIRE(b.x.shape() == Shape{2, 5, 3});
  const auto v = b.x.to_vector<double>();
  CHECK(v[0] == doctest::Approx(-512 / 2.5));  // the dot
  CHECK(v[2] == 1);
  CHECK(v[3] == 0);  // padding
  CHECK(v[15 + 3] == doctest::Approx(10 / 2.5));
  CHECK(v[15 + 4 * 3 + 2] == 1);
  CHECK(head(t, 1).size() == 1);
  CHECK(head(t, 1).points() == 5);
  CHECK_ERROR_HAS(stroke_batch(t, order, 1, 3), "stroke_batch: rows [1, 3) of 2");
  const std::vector<int64_t> far{5};
  CHECK_ERROR_HAS(stroke_batch(t, far, 0, 1), "stroke_batch: sequence 5 of a set of 2");
  StrokeSet u;
  const std::vector<int16_t> three{1, 2, 3};
  CHECK_ERROR_HAS(u.add(1, three, pen), "strokes: a sequence needs 2 offsets per pen state, got 3 and 2");
  u.scale = 0;
  CHECK_ERROR_HAS(write_strokes(scratch("zero.bin").string(), u), "scale 0 must be positive");
}
