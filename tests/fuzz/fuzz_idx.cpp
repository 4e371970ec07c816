// libFuzzer target: models::read_idx on arbitrary bytes (plain or gzipped). The promise: every input is
// either read into a consistent array or rejected with elbo::IOError naming the file; nothing else
// escapes (no crash, no other exception, no sanitizer report, no allocation beyond the input's worth).
#include <models/idx.h>

#include "autograd/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace elbo;
  static fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  try {
    const models::IdxArray a = models::read_idx(path);
    if (a.shape.empty() || a.shape.size() > 4) fuzz::broken(fmt::format("read_idx: {} dimensions", a.shape.size()));
    for (int64_t d : a.shape)
      if (d <= 0) fuzz::broken(fmt::format("read_idx: shape {} has a dim that is not positive", a.shape));
    if (int64_t(a.data.size()) != numel_of(a.shape))
      fuzz::broken(fmt::format("read_idx: {} bytes for shape {}", a.data.size(), a.shape));
  } catch (const IOError& e) {
    if (std::string(e.what()).rfind(path + ": ", 0) != 0) fuzz::broken(fmt::format("error without the file: {}", e.what()));
  }
  return 0;
}
