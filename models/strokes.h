#pragma once
// Handwriting as variable-length sequences, in SketchRNN's stroke-3 format: each point is (dx, dy, p),
// the offset from the previous point (the first from the box's centre) and p = 1 when the pen lifts
// after it (the last point of every stroke, the character's last point included).
//
// The source is the npm package hanzi-writer-data (version 2.0.1; its data is derived from the Make Me a
// Hanzi project and the Arphic fonts, under the Arphic Public License, ARPHICPL.TXT in the package): one
// JSON file per character whose `medians` list each stroke's points [x, y] in a 1024-unit box, y up.
// `elbo-data strokes` turns it into three files, train, valid and test, split by character: in codepoint
// order, every tenth from the ninth on is validation, from the tenth on test (80/10/10). Points are rounded
// to whole font units (a few sit on half units) and the offsets kept as integers; `scale`, the standard deviation of the training split's dx and dy
// together, is stored in every file and divides them when a batch is made.
//
// File format (little-endian), for any reader:
//   offset 0    8 bytes  "ELBOSTRK"
//          8    u32      version (1)
//          12   u32      n, the number of sequences
//          16   u64      N, the total number of points
//          24   f64      scale (> 0)
//          32   n x (u32 codepoint, u32 length)      length >= 1; the lengths sum to N
//   32 + 8 n    N x (i16 dx, i16 dy, u8 p)            5 bytes a point, p in {0, 1}; each sequence ends with p = 1
// and nothing after. Reading checks all of it and names the file and byte offset of the first fault.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../autograd/ops.h"

namespace elbo::models {

struct StrokeSet {
  double scale = 1;
  std::vector<uint32_t> codepoints;  // the character of each sequence
  std::vector<int64_t> starts{0};    // sequence i is points [starts[i], starts[i + 1])
  std::vector<int16_t> xy;           // [N, 2]: dx, dy in font units
  std::vector<uint8_t> pen;          // [N]
  int64_t size() const { return int64_t(codepoints.size()); }
  int64_t points() const { return int64_t(pen.size()); }
  int64_t length(int64_t i) const { return starts[size_t(i + 1)] - starts[size_t(i)]; }
  int64_t max_length() const;
  // Appends one sequence (xy: 2 per point).
  void add(uint32_t codepoint, std::span<const int16_t> xy, std::span<const uint8_t> pen);
};

// One hanzi-writer-data file's text -> the character's stroke-3 points, appended to `set`. `name` (the
// file) goes into errors, which also give the byte offset for malformed JSON.
void add_hanzi(StrokeSet& set, std::string_view json, uint32_t codepoint, const std::string& name);

// The standard deviation of all dx and dy values together (population), in font units.
double offset_std(const StrokeSet& set);

void write_strokes(const std::string& path, const StrokeSet& set);  // atomic (temporary file + rename)
StrokeSet read_strokes(const std::string& path);
// DIR/strokes-{train,valid,test}.bin; split is "train", "valid" or "test".
StrokeSet load_strokes(const std::string& dir, const std::string& split);
StrokeSet head(const StrokeSet& s, int64_t n);  // the first n sequences (n >= size() keeps all)

// A padded batch of sequences order[begin, end): x [B, T, 3] (dx / scale, dy / scale, p; zeros after each
// sequence's end) with T the longest length in the batch, and the lengths.
struct StrokeBatch {
  Tensor x;
  std::vector<int64_t> lengths;
};
StrokeBatch stroke_batch(const StrokeSet& s, std::span<const int64_t> order, int64_t begin, int64_t end,
                         DType dtype = DType::f32);

// Sequences order[begin, end) of s as padded stroke-5 (models/seqvae.h): per point (dx, dy, p_down, p_up,
// p_end), offsets divided by s.scale, all zeros after a sequence's end.
Tensor stroke5_batch(const StrokeSet& s, std::span<const int64_t> order, int64_t begin, int64_t end,
                     DType dtype = DType::f32);

}  // namespace elbo::models
