#include "models/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "autograd/error.h"
#include "nn/safetensors.h"

namespace elbo::models {
namespace {

constexpr char kMagic[] = "\x93NUMPY";  // six bytes

struct TypeName {
  NpyType type;
  std::string_view descr;
  size_t itemsize;
};
constexpr TypeName kTypes[] = {{NpyType::uint8, "|u1", 1},   {NpyType::int8, "|i1", 1},
                               {NpyType::int32, "<i4", 4},   {NpyType::int64, "<i8", 8},
                               {NpyType::float32, "<f4", 4}, {NpyType::float64, "<f8", 8}};

// The header's dict literal, read token by token; `base` is the header's byte offset in the file, for
// the messages.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, int64_t base, const std::string& path) : s_(text), base_(base), path_(path) {}

  void parse(std::string& descr, bool& fortran, Shape& shape) {
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (true) {
      skip();
      if (peek() == '}') break;
      const size_t at = i_;
      const std::string key = string();
      expect(':');
      if (key == "descr") descr = string(), seen_descr = true;
      else if (key == "fortran_order") fortran = boolean(), seen_order = true;
      else if (key == "shape") shape = tuple(), seen_shape = true;
      else fail(at, fmt::format("unknown key '{}' (a .npy header holds descr, fortran_order and shape)", key));
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != '}') fail(i_, "expected ',' or '}' after a value");
    }
    ++i_;
    for (; i_ < s_.size(); ++i_)
      if (s_[i_] != ' ' && s_[i_] != '\n' && s_[i_] != '\t') fail(i_, "unexpected bytes after the header's '}'");
    if (!seen_descr || !seen_order || !seen_shape)
      fail(0, fmt::format("the header lacks '{}'", !seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape"));
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    throw IOError(fmt::format("{}: bad .npy header at byte offset {}: {}", path_, base_ + int64_t(at), what));
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n')) ++i_;
  }
  char peek() {
    if (i_ >= s_.size()) fail(i_, "the header ends inside its dict");
    return s_[i_];
  }
  void expect(char c) {
    skip();
    if (peek() != c) fail(i_, fmt::format("expected '{}'", c));
    ++i_;
  }
  std::string string() {
    skip();
    const char q = peek();
    if (q != '\'' && q != '"') fail(i_, "expected a quoted string");
    const size_t start = ++i_;
    while (peek() != q) ++i_;
    return std::string(s_.substr(start, i_++ - start));
  }
  bool boolean() {
    skip();
    for (const auto& [word, v] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}})
      if (s_.substr(i_, word.size()) == word) {
        i_ += word.size();
        return v;
      }
    fail(i_, "expected True or False");
  }
  Shape tuple() {
    expect('(');
    Shape shape;
    while (true) {
      skip();
      if (peek() == ')') break;
      const size_t at = i_;
      int64_t v = 0;
      bool digits = false;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        if (v > (int64_t(1) << 50)) fail(at, "a dimension beyond 2^50");
        v = v * 10 + (s_[i_++] - '0'), digits = true;
      }
      if (i_ < s_.size() && s_[i_] == 'L') ++i_;  // Python 2's long suffix
      if (!digits) fail(at, "expected a non-negative integer in the shape");
      if (shape.size() == 32) fail(at, "more than 32 dimensions");
      shape.push_back(v);
      skip();
      if (peek() == ',') ++i_;
      else if (peek() != ')') fail(i_, "expected ',' or ')' in the shape");
    }
    ++i_;
    return shape;
  }

  std::string_view s_;
  int64_t base_;
  const std::string& path_;
  size_t i_ = 0;
};

uint32_t le(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int b = bytes - 1; b >= 0; --b) v = v << 8 | p[b];
  return v;
}

}  // namespace

size_t npy_itemsize(NpyType t) {
  for (const TypeName& n : kTypes)
    if (n.type == t) return n.itemsize;
  return 0;
}

std::string_view npy_descr(NpyType t) {
  for (const TypeName& n : kTypes)
    if (n.type == t) return n.descr;
  return "?";
}

NpyFile::NpyFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IOError(fmt::format("{}: cannot open ({})", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IOError(fmt::format("{}: not a regular file", path));
  }
  map_size_ = size_t(st.st_size);
  if (map_size_ > 0) {
    void* m = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      throw IOError(fmt::format("{}: cannot map ({})", path, std::strerror(err)));
    }
    map_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);  // the mapping keeps the file
  try {
    const int64_t size = int64_t(map_size_);
    if (size < 10 || std::memcmp(map_, kMagic, 6) != 0) {
      if (size >= 6 && std::memcmp(map_, kMagic, 6) == 0)
        throw IOError(fmt::format("{}: truncated at byte offset {}: the .npy preamble needs 10 bytes", path, size));
      throw IOError(fmt::format("{}: not a .npy file at byte offset 0: it does not start with \\x93NUMPY", path));
    }
    const int major = map_[6];
    if (major < 1 || major > 3)
      throw IOError(fmt::format("{}: .npy version {}.{} at byte offset 6 is not 1.0, 2.0 or 3.0", path, major, map_[7]));
    const int len_bytes = major == 1 ? 2 : 4;
    if (size < 8 + len_bytes)
      throw IOError(fmt::format("{}: truncated at byte offset {}: the header length needs {} bytes", path, size,
                                len_bytes));
    const int64_t start = 8 + len_bytes, length = le(map_ + 8, len_bytes);
    if (start + length > size)
      throw IOError(fmt::format("{}: truncated at byte offset {}: the header claims {} bytes from offset {}", path,
                                size, length, start));
    std::string descr;
    bool fortran = false;
    HeaderParser(std::string_view(reinterpret_cast<const char*>(map_) + start, size_t(length)), start, path)
        .parse(descr, fortran, shape_);
    bool known = false;
    for (const TypeName& n : kTypes)
      if (n.descr == descr || (n.itemsize == 1 && descr.size() == 3 && descr.substr(1) == n.descr.substr(1)))
        type_ = n.type, known = true;  // a one-byte type may be written '|u1', '<u1' or '=u1'
    if (!known)
      throw IOError(fmt::format("{}: .npy element type '{}' (header at byte offset {}) is not one of |u1 |i1 <i4 <i8 "
                                "<f4 <f8 (little-endian)",
                                path, descr, start));
    if (fortran)
      throw IOError(fmt::format("{}: .npy array in Fortran order (header at byte offset {}): write it in C order "
                                "(numpy.ascontiguousarray)",
                                path, start));
    offset_ = start + length;
    int64_t elements = 1;
    for (int64_t d : shape_) {
      if (d != 0 && elements > (int64_t(1) << 60) / d)
        throw IOError(fmt::format("{}: .npy shape {} (header at byte offset {}) is not a plausible size", path,
                                  shape_, start));
      elements *= d;
    }
    const int64_t need = elements * int64_t(npy_itemsize(type_)), have = size - offset_;
    if (have < need)
      throw IOError(fmt::format("{}: truncated at byte offset {}: shape {} of {} needs {} bytes of data from offset {}",
                                path, size, shape_, descr, need, offset_));
    if (have > need)
      throw IOError(fmt::format("{}: {} bytes after the data's end at byte offset {} (shape {} of {})", path,
                                have - need, offset_ + need, shape_, descr));
  } catch (...) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    throw;
  }
}

NpyFile::NpyFile(NpyFile&& o) noexcept
    : path_(std::move(o.path_)), shape_(std::move(o.shape_)), type_(o.type_), offset_(o.offset_),
      map_(std::exchange(o.map_, nullptr)), map_size_(std::exchange(o.map_size_, 0)) {}

NpyFile& NpyFile::operator=(NpyFile&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
    path_ = std::move(o.path_), shape_ = std::move(o.shape_), type_ = o.type_, offset_ = o.offset_;
    map_ = std::exchange(o.map_, nullptr), map_size_ = std::exchange(o.map_size_, 0);
  }
  return *this;
}

NpyFile::~NpyFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_size_);
}

int64_t NpyFile::row_elements() const {
  int64_t n = 1;
  for (size_t d = 1; d < shape_.size(); ++d) n *= shape_[d];
  return n;
}

const uint8_t* NpyFile::row(int64_t i) const {
  ELBO_CHECK(i >= 0 && i < rows(), "{}: row {} of {}", path_, i, rows());
  return map_ + offset_ + i * row_elements() * int64_t(npy_itemsize(type_));
}

void save_npy(const std::string& path, const Tensor& t) {
  ELBO_CHECK(t.defined(), "save_npy: {}: the tensor is undefined", path);
  const Tensor& c = t;  // storage is contiguous (tensor.h)
  const NpyType type = c.dtype() == DType::f32 ? NpyType::float32 : c.dtype() == DType::f64 ? NpyType::float64 : NpyType::int64;
  write_npy(path, c.shape(), type, c.raw());
}

Tensor load_npy_tensor(const std::string& path) {
  const NpyFile f(path);
  const bool real = f.type() == NpyType::float32 || f.type() == NpyType::float64;
  Tensor t = empty(f.shape(), f.type() == NpyType::float32 ? DType::f32 : real ? DType::f64 : DType::i64);
  const int64_t n = t.numel();
  if (n == 0) return t;
  const uint8_t* src = f.row(0);
  if (real) {
    std::memcpy(t.raw(), src, size_t(n) * npy_itemsize(f.type()));
    return t;
  }
  int64_t* out = t.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) switch (f.type()) {
      case NpyType::uint8: out[i] = src[i]; break;
      case NpyType::int8: out[i] = int8_t(src[i]); break;
      case NpyType::int32: { int32_t v; std::memcpy(&v, src + 4 * i, 4); out[i] = v; break; }
      default: std::memcpy(out + i, src + 8 * i, 8); break;
    }
  return t;
}

void write_npy(const std::string& path, const Shape& shape, NpyType t, const void* data) {
  std::string dims;
  for (int64_t d : shape) dims += fmt::format("{}, ", d);
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (3,) for one dimension, (3, 4) for two
  else if (shape.size() == 1) dims.pop_back();
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", npy_descr(t), dims);
  const bool v2 = header.size() + 11 > 65535;
  const size_t preamble = v2 ? 12 : 10;
  header.append((64 - (preamble + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string head(kMagic, 6);
  head += char(v2 ? 2 : 1), head += char(0);
  for (int b = 0; b < (v2 ? 4 : 2); ++b) head += char((header.size() >> (8 * b)) & 0xff);
  head += header;
  const size_t bytes = size_t(numel_of(shape)) * npy_itemsize(t);
  nn::write_file_atomic(path, {std::span<const char>(head.data(), head.size()),
                               std::span<const char>(static_cast<const char*>(data), bytes)});
}

}  // namespace elbo::models
