#pragma once
// IDX files (the MNIST format): big-endian magic 0x0000 0x08 ndims, ndims big-endian u32 sizes, then
// unsigned bytes. Gzipped and plain files are read alike (zlib). Every defect - bad magic, a type other
// than unsigned byte, absurd sizes, a truncated or corrupt file - is an elbo::IOError naming the file
// and the byte offset (in the decompressed stream) where reading failed.
#include <cstdint>
#include <string>
#include <vector>

#include "../autograd/dtype.h"

namespace elbo::models {

struct IdxArray {
  Shape shape;                // e.g. [60000, 28, 28] or [60000]
  std::vector<uint8_t> data;  // row-major, numel(shape) bytes
};

IdxArray read_idx(const std::string& path);
// Writes a plain (uncompressed) IDX file of unsigned bytes, atomically (temporary file + rename).
void write_idx(const std::string& path, const Shape& shape, const std::vector<uint8_t>& data);

}  // namespace elbo::models
