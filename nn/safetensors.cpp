#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autograd/error.h"
#include "nn/json.h"

namespace elbo::nn {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

constexpr uint64_t kMaxHeader = uint64_t(100) << 20;  // as the reference implementation's limit

const char* st_dtype(DType d) { return d == DType::f32 ? "F32" : d == DType::f64 ? "F64" : "I64"; }

[[noreturn]] void bad(const std::string& path, uint64_t offset, const std::string& what) {
  throw IOError(fmt::format("{}: byte {}: {}", path, offset, what));
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void write_file_atomic(const std::string& path, const std::vector<std::span<const char>>& parts) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string base = ".";  // a hidden sibling: same file system, so rename is atomic
  base.append(target.filename().string()).append(".tmp.XXXXXX");
  std::string tmpl = (dir / base).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw IOError(fmt::format("{}: cannot create a temporary file in {} ({})", path, dir.string(), errno_text()));
  auto fail = [&](const char* what) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw IOError(fmt::format("{}: {} failed ({}); the previous file, if any, is untouched", path, what, why));
  };
  for (auto part : parts) {
    const char* p = part.data();
    size_t left = part.size();
    while (left > 0) {
      const ssize_t w = ::write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail("write");
      p += w, left -= size_t(w);
    }
  }
  if (::fchmod(fd, 0644) != 0) fail("chmod");
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    const std::string why = errno_text();
    ::unlink(tmpl.c_str());
    throw IOError(fmt::format("{}: close failed ({})", path, why));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmpl.c_str());
    throw IOError(fmt::format("{}: rename from {} failed ({})", path, tmpl, why));
  }
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {  // make the rename durable
    ::fsync(dfd);
    ::close(dfd);
  }
}

void save_tensors(const std::string& path, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (auto& [k, v] : metadata) {
      if (!first) header += ',';
      header += json::quote(k);
      header += ':';
      header += json::quote(v);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors[i];
    ELBO_CHECK(!name.empty() && name != "__metadata__", "save_tensors {}: bad tensor name '{}'", path, name);
    ELBO_CHECK(t.defined(), "save_tensors {}: tensor '{}' is undefined", path, name);
    for (size_t j = 0; j < i; ++j)
      ELBO_CHECK(tensors[j].first != name, "save_tensors {}: tensor name '{}' appears twice", path, name);
    const uint64_t n = uint64_t(t.numel()) * itemsize(t.dtype());
    header += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          (i == 0 && metadata.empty()) ? "" : ",", json::quote(name), st_dtype(t.dtype()),
                          fmt::join(t.shape(), ","), offset, offset + n);
    offset += n;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // pad so the data section starts 8-byte aligned
  char len[8];
  const uint64_t hl = header.size();
  std::memcpy(len, &hl, 8);
  std::vector<std::span<const char>> parts{{len, 8}, {header.data(), header.size()}};
  for (auto& [_, t] : tensors)
    parts.emplace_back(static_cast<const char*>(t.raw()), size_t(t.numel()) * itemsize(t.dtype()));
  write_file_atomic(path, parts);
}

TensorFile load_tensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw IOError(fmt::format("{}: cannot open ({})", path, errno_text()));
  const auto end = f.tellg();
  if (end < 0) throw IOError(fmt::format("{}: cannot determine the file size", path));
  const uint64_t size = uint64_t(end);
  if (size < 8) bad(path, 0, fmt::format("file is {} bytes, too short for the 8-byte header length", size));
  std::vector<char> bytes(size);
  f.seekg(0);
  if (!f.read(bytes.data(), std::streamsize(size))) throw IOError(fmt::format("{}: read failed", path));

  uint64_t hl = 0;
  std::memcpy(&hl, bytes.data(), 8);
  if (hl > size - 8)
    bad(path, 0, fmt::format("header length {} runs past the end of the file ({} bytes); truncated or not safetensors",
                             hl, size));
  if (hl > kMaxHeader) bad(path, 0, fmt::format("header length {} exceeds the {} byte limit", hl, kMaxHeader));
  if (hl < 2 || bytes[8] != '{') bad(path, 8, "the header is not a JSON object");
  json::Value root;
  try {
    root = json::parse(std::string_view(bytes.data() + 8, hl));
  } catch (const json::ParseError& e) {
    bad(path, 8 + e.offset, fmt::format("bad JSON header: {}", e.what()));
  }
  if (root.kind != json::Value::Kind::object) bad(path, 8, "the header is not a JSON object");

  const uint64_t data_start = 8 + hl, data_size = size - data_start;
  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  TensorFile out;
  for (auto& [name, v] : root.object) {
    if (name == "__metadata__") {
      if (v.kind != json::Value::Kind::object) bad(path, 8, "__metadata__ is not an object");
      for (auto& [k, s] : v.object) {
        if (s.kind != json::Value::Kind::string) bad(path, 8, fmt::format("__metadata__ \"{}\" is not a string", k));
        out.metadata[k] = s.string;
      }
      continue;
    }
    auto field = [&](const char* key) -> const json::Value& {
      if (v.kind != json::Value::Kind::object) bad(path, 8, fmt::format("tensor '{}': entry is not an object", name));
      for (auto& [k, x] : v.object)
        if (k == key) return x;
      bad(path, 8, fmt::format("tensor '{}': no \"{}\"", name, key));
    };
    Entry e{name, DType::f32, {}, 0, 0};
    const json::Value& dt = field("dtype");
    if (dt.kind != json::Value::Kind::string) bad(path, 8, fmt::format("tensor '{}': dtype is not a string", name));
    if (dt.string == "F32") e.dtype = DType::f32;
    else if (dt.string == "F64") e.dtype = DType::f64;
    else if (dt.string == "I64") e.dtype = DType::i64;
    else bad(path, 8, fmt::format("tensor '{}': unsupported dtype \"{}\" (elbo reads F32, F64 and I64)", name, dt.string));
    const json::Value& sh = field("shape");
    if (sh.kind != json::Value::Kind::array || sh.array.size() > 16)
      bad(path, 8, fmt::format("tensor '{}': shape is not an array of at most 16 dims", name));
    bool zero = false;
    for (auto& d : sh.array) {
      if (!d.is_uint || d.uint > (uint64_t(1) << 40))
        bad(path, 8, fmt::format("tensor '{}': shape holds a dim that is not a size", name));
      e.shape.push_back(int64_t(d.uint));
      zero |= d.uint == 0;
    }
    uint64_t numel = 1;
    for (int64_t d : e.shape) {
      if (zero) {
        numel = 0;
        break;
      }
      if (numel > data_size / uint64_t(d))
        bad(path, 8, fmt::format("tensor '{}': shape {} is larger than the file", name, e.shape));
      numel *= uint64_t(d);
    }
    const json::Value& off = field("data_offsets");
    if (off.kind != json::Value::Kind::array || off.array.size() != 2 || !off.array[0].is_uint || !off.array[1].is_uint)
      bad(path, 8, fmt::format("tensor '{}': data_offsets is not [begin, end]", name));
    e.begin = off.array[0].uint, e.end = off.array[1].uint;
    if (e.begin > e.end || e.end > data_size)
      bad(path, data_start + std::min(e.begin, data_size),
          fmt::format("tensor '{}': data_offsets [{}, {}] out of range (data section holds {} bytes)", name, e.begin,
                      e.end, data_size));
    if (e.end - e.begin != numel * itemsize(e.dtype))
      bad(path, data_start + e.begin,
          fmt::format("tensor '{}': {} bytes for shape {} of {} (needs {})", name, e.end - e.begin, e.shape,
                      dt.string, numel * itemsize(e.dtype)));
    entries.push_back(std::move(e));
  }
  // The tensors must tile the data section: no overlaps (aliasing) and no holes (hidden payloads).
  std::vector<const Entry*> by_offset;
  for (auto& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  uint64_t at = 0;
  for (auto* e : by_offset) {
    if (e->begin < at)
      bad(path, data_start + e->begin, fmt::format("tensor '{}' overlaps the previous tensor", e->name));
    if (e->begin > at) bad(path, data_start + at, fmt::format("gap of {} bytes before tensor '{}'", e->begin - at, e->name));
    at = e->end;
  }
  if (at != data_size) bad(path, data_start + at, fmt::format("{} bytes after the last tensor", data_size - at));

  for (auto& e : entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw(), bytes.data() + data_start + e.begin, e.end - e.begin);
    out.tensors.emplace_back(e.name, t);
  }
  return out;
}

}  // namespace elbo::nn
