#include "models/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "autograd/error.h"

namespace elbo::models {
namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};

// Reads exactly n bytes or throws, naming the file and the offset where the data ran out (`after`: bytes
// of the same item still expected beyond these n, for the message).
void read_exact(gzFile f, const std::string& path, uint64_t& offset, void* dst, size_t n, const char* what,
                uint64_t after = 0) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = unsigned(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(f, static_cast<char*>(dst) + done, chunk);
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw IOError(fmt::format("{}: corrupt data at byte offset {} while reading {}: {}", path, offset + done, what,
                                msg ? msg : "zlib error"));
    }
    if (got == 0)
      throw IOError(fmt::format("{}: truncated at byte offset {}: expected {} more bytes of {}", path, offset + done,
                                n - done + after, what));
    done += size_t(got);
  }
  offset += n;
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

}  // namespace

IdxArray read_idx(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  if (!f) throw IOError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  uint64_t offset = 0;
  uint8_t magic[4];
  read_exact(f.get(), path, offset, magic, 4, "the IDX magic number");
  if (magic[0] != 0 || magic[1] != 0)
    throw IOError(fmt::format("{}: not an IDX file at byte offset 0: magic bytes {:02x} {:02x} should be 00 00", path,
                              magic[0], magic[1]));
  if (magic[2] != 0x08)
    throw IOError(fmt::format("{}: IDX element type 0x{:02x} at byte offset 2 is not unsigned byte (0x08)", path,
                              magic[2]));
  const int ndims = magic[3];
  if (ndims < 1 || ndims > 4)
    throw IOError(fmt::format("{}: IDX file claims {} dimensions at byte offset 3 (expected 1 to 4)", path, ndims));
  IdxArray a;
  uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    uint8_t b[4];
    const uint64_t at = offset;
    read_exact(f.get(), path, offset, b, 4, "the IDX dimensions");
    const uint32_t n = be32(b);
    total *= n;
    if (n == 0 || total > (uint64_t(1) << 34))
      throw IOError(fmt::format("{}: dimension {} at byte offset {} is {} (total {} bytes), which is not a plausible size",
                                path, d, at, n, total));
    a.shape.push_back(int64_t(n));
  }
  // NOTE: the buffer grows as the data arrives (1 MiB at a time), so a short file whose header claims
  // gigabytes fails at its end instead of first allocating what it claims (found by tests/fuzz).
  constexpr uint64_t kChunk = uint64_t(1) << 20;
  while (a.data.size() < total) {
    const size_t have = a.data.size(), n = size_t(std::min(kChunk, total - have));
    a.data.resize(have + n);
    read_exact(f.get(), path, offset, a.data.data() + have, n, "pixel/label data", total - have - n);
  }
  return a;
}

void write_idx(const std::string& path, const Shape& shape, const std::vector<uint8_t>& data) {
  ELBO_CHECK(int64_t(data.size()) == numel_of(shape), "write_idx: {} bytes for shape {}", data.size(), shape);
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw IOError(fmt::format("{}: cannot create ({})", tmp, std::strerror(errno)));
  std::vector<uint8_t> head{0, 0, 0x08, uint8_t(shape.size())};
  for (int64_t d : shape)
    for (int s = 24; s >= 0; s -= 8) head.push_back(uint8_t(uint64_t(d) >> s));
  const bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size() &&
                  std::fwrite(data.data(), 1, data.size(), f) == data.size() && std::fflush(f) == 0;
  std::fclose(f);
  if (!ok) {
    std::remove(tmp.c_str());
    throw IOError(fmt::format("{}: write failed", tmp));
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace elbo::models
