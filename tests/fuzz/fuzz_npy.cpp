// libFuzzer target: models::NpyFile on arbitrary bytes, then every row read and, for the element types
// images may have, models::load_npy's checks. The promise: every input is either mapped into a
// consistent array or rejected with elbo::IOError naming the file; nothing else escapes (no crash, no
// other exception, no sanitizer report, no read outside the mapping).
#include <models/npy.h>

#include "autograd/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace elbo;
  static fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  try {
    const models::NpyFile f(path);
    int64_t elements = 1;
    for (int64_t d : f.shape()) {
      if (d < 0) fuzz::broken(fmt::format("NpyFile: shape {} has a negative dim", f.shape()));
      elements *= d;
    }
    const int64_t bytes = elements * int64_t(models::npy_itemsize(f.type()));
    if (f.data_offset() + bytes != int64_t(size))
      fuzz::broken(fmt::format("NpyFile: {} bytes of data from offset {} in a file of {}", bytes, f.data_offset(), size));
    const int64_t row = f.row_elements() * int64_t(models::npy_itemsize(f.type()));
    uint64_t sum = 0;  // touch every byte of every row: a row outside the mapping faults here
    for (int64_t i = 0; i < (elements > 0 ? f.rows() : 0); ++i)
      for (int64_t b = 0; b < row; ++b) sum += f.row(i)[b];
    (void)sum;
  } catch (const IOError& e) {
    if (std::string(e.what()).rfind(path + ": ", 0) != 0) fuzz::broken(fmt::format("error without the file: {}", e.what()));
  }
  return 0;
}
