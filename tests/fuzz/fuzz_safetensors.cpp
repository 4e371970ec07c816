// libFuzzer target: nn::load_tensors on arbitrary bytes. The promise: every input is either read into
// tensors that tile the data section exactly, or rejected with elbo::IOError naming the file and a byte
// offset; nothing else escapes (no crash, no other exception, no sanitizer report).
#include <nn/safetensors.h>

#include <cstring>

#include "autograd/error.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace elbo;
  static fuzz::MemoryFile file;
  const std::string& path = file.write(data, size);
  try {
    const nn::TensorFile f = nn::load_tensors(path);
    // a file that loads is 8 + header + exactly the tensors' bytes
    uint64_t header = 0, bytes = 0;
    std::memcpy(&header, data, 8);
    for (const auto& [name, t] : f.tensors) {
      if (name.empty() || name == "__metadata__") fuzz::broken(fmt::format("load_tensors: tensor named '{}'", name));
      if (t.dtype() != DType::f32 && t.dtype() != DType::f64 && t.dtype() != DType::i64)
        fuzz::broken("load_tensors: a dtype the format does not hold");
      bytes += uint64_t(t.numel()) * itemsize(t.dtype());
    }
    if (8 + header + bytes != size)
      fuzz::broken(fmt::format("load_tensors: 8 + {} header + {} tensor bytes != {} file bytes", header, bytes, size));
  } catch (const IOError& e) {
    if (std::string(e.what()).rfind(path + ": ", 0) != 0) fuzz::broken(fmt::format("error without the file: {}", e.what()));
  }
  return 0;
}
