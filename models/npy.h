#pragma once
// NumPy .npy files, format versions 1.0, 2.0 and 3.0: the magic "\x93NUMPY", the major and minor
// version bytes, the header's length (little-endian u16 for 1.0, u32 after), then the header, a Python
// dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), } padded with
// spaces and ended by a newline, then the array's bytes in C order.
//
// Read here: the element types |u1 (uint8), <f4, <f8 (float32, float64) and <i8, |i1, <i4 (integers, for
// labels), little-endian and in C order. The file is memory-mapped, not read: rows are pointers into the
// mapping, so a file larger than memory is read page by page as its rows are used. Every defect - a wrong
// magic, a header that does not parse, an element type not listed, Fortran order, a shape whose bytes the
// file does not hold - is an elbo::IOError naming the file and the byte offset where it was found.
#include <cstdint>
#include <string>
#include <string_view>

#include "../autograd/tensor.h"

namespace elbo::models {

enum class NpyType { uint8, int8, int32, int64, float32, float64 };
size_t npy_itemsize(NpyType t);
std::string_view npy_descr(NpyType t);  // "|u1", "<f4", ...

class NpyFile {
 public:
  explicit NpyFile(const std::string& path);
  NpyFile(const NpyFile&) = delete;
  NpyFile& operator=(const NpyFile&) = delete;
  NpyFile(NpyFile&& o) noexcept;
  NpyFile& operator=(NpyFile&& o) noexcept;
  ~NpyFile();

  const std::string& path() const { return path_; }
  const Shape& shape() const { return shape_; }  // () for a scalar
  NpyType type() const { return type_; }
  int64_t rows() const { return shape_.empty() ? 1 : shape_[0]; }
  int64_t row_elements() const;  // elements per row (the product of the dims after the first)
  int64_t data_offset() const { return offset_; }  // the first element's byte offset in the file
  // Row i's bytes (row_elements() * itemsize), in the mapping.
  const uint8_t* row(int64_t i) const;

 private:
  std::string path_;
  Shape shape_;
  NpyType type_ = NpyType::uint8;
  int64_t offset_ = 0;
  const uint8_t* map_ = nullptr;
  size_t map_size_ = 0;
};

// A tensor as a .npy file (f32 as <f4, f64 as <f8, i64 as <i8), and a .npy file as a tensor (uint8 and the
// integer types as i64, <f4 as f32, <f8 as f64), copied out of the mapping.
void save_npy(const std::string& path, const Tensor& t);
Tensor load_npy_tensor(const std::string& path);

// Writes a version 1.0 file (2.0 when the header needs more than 65,535 bytes) of `shape` in C order from
// data (numel(shape) elements of t), atomically (temporary file + rename).
void write_npy(const std::string& path, const Shape& shape, NpyType t, const void* data);

}  // namespace elbo::models
