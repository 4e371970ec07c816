// Runs a fuzz target's LLVMFuzzerTestOneInput once on each file named (directories: every file inside,
// in name order), without libFuzzer: the committed seed corpus and every crash input found so far replay
// in the ordinary builds (Release, and the sanitizer build) on every ctest run.
#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

// As under libFuzzer (-rss_limit_mb=2048), an input may not make a reader allocate gigabytes: a small file
// claiming huge sizes must be rejected, not believed. Under AddressSanitizer a larger single allocation is
// an error report; otherwise the address space is capped, so it throws std::bad_alloc, which escapes.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "max_allocation_size_mb=2048"; }
#endif

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
#if !defined(__SANITIZE_ADDRESS__)
  const rlimit cap{rlim_t(4) << 30, rlim_t(4) << 30};
  setrlimit(RLIMIT_AS, &cap);
#endif
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      std::vector<fs::path> in;
      for (const auto& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) in.push_back(e.path());
      std::sort(in.begin(), in.end());
      files.insert(files.end(), in.begin(), in.end());
    } else if (fs::is_regular_file(argv[i])) {
      files.emplace_back(argv[i]);
    } else {
      std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
      return 1;
    }
  }
  for (const fs::path& p : files) {
    std::ifstream f(p, std::ios::binary);
    const std::vector<char> bytes{std::istreambuf_iterator<char>(f), {}};
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", p.c_str(), bytes.size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("replay: %zu inputs, no crash\n", files.size());
  return files.empty() ? 1 : 0;
}
