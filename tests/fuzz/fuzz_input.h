#pragma once
// Shared by the fuzz targets: the readers under test open a path, so each input is written to an anonymous
// in-memory file (memfd) and handed over as /proc/self/fd/N. Nothing touches the disk, nothing is left
// behind, and the reader's own file handling (open, size, read) runs as it does on a real file.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace elbo::fuzz {

class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("elbo-fuzz-input", 0)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;
  ~MemoryFile() { ::close(fd_); }

  // Replaces the file's contents with data[0, n) and returns the path to open.
  const std::string& write(const uint8_t* data, size_t n) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    for (size_t done = 0; done < n;) {
      const ssize_t w = ::pwrite(fd_, data + done, n - done, off_t(done));
      if (w <= 0) std::abort();
      done += size_t(w);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// A broken promise (not a rejected input): print what broke and abort, which libFuzzer records as a crash.
[[noreturn]] inline void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz property broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace elbo::fuzz
