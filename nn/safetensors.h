#pragma once
// Checkpoints in the safetensors format, readable by PyTorch and writable from it:
//   [8 bytes: header length N, little-endian u64][N bytes: JSON header][data]
// The header maps each tensor name to {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [b, e]}
// (offsets into the data section, which the tensors tile with no gaps or overlaps) and may hold a
// "__metadata__" object of strings. Reading trusts nothing: every length, offset and shape is checked
// against the file size, and any defect is an elbo::IOError naming the file and the byte offset.
// Writing is atomic: a temporary file in the same directory, flushed, fsynced, then renamed over the
// target, so a crash mid-save leaves the previous file intact.
#include <map>
#include <span>
#include <string>
#include <vector>

#include "module.h"

namespace elbo::nn {

struct TensorFile {
  NamedTensors tensors;  // in the header's order
  std::map<std::string, std::string> metadata;
};

void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});
TensorFile load_tensors(const std::string& path);

// Writes the concatenation of `parts` to path atomically (temporary file, fsync, rename, fsync of the
// directory). Throws elbo::IOError naming the path; the temporary file is removed on failure.
void write_file_atomic(const std::string& path, const std::vector<std::span<const char>>& parts);

}  // namespace elbo::nn
