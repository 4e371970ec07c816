#pragma once
// A small strict JSON reader and string quoting, for safetensors headers (internal; not installed).
// Hostile input is expected: nesting is capped, integers are parsed exactly into 64 bits, and every
// error carries the byte offset into the text where parsing stopped.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace elbo::nn::json {

struct Member;  // a key and its value; std::pair<std::string, Value> would name Value while incomplete,
                // which libstdc++'s pair does not allow (clang rejects it)
struct Value {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  double number = 0;
  bool is_uint = false;  // a non-negative integer literal that fits in 64 bits
  uint64_t uint = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<Member> object;  // in file order; duplicates are a parse error
};
struct Member {
  std::string key;
  Value value;
};

struct ParseError : std::runtime_error {
  ParseError(size_t offset, const std::string& what) : std::runtime_error(what), offset(offset) {}
  size_t offset;
};

Value parse(std::string_view text);  // the whole text: one value, optional surrounding whitespace
std::string quote(std::string_view s);

}  // namespace elbo::nn::json
