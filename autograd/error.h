#pragma once
// Errors. Bad user input throws elbo::Error (or a subclass) whose message names the operation and every
// shape involved; ELBO_CHECK is the one way to raise it. Internal invariants use ELBO_ASSERT, which also
// throws (never aborts) and carries file:line, because a bug report beats a core dump.
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace elbo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error { public: using Error::Error; };
class ValueError : public Error { public: using Error::Error; };
class IOError : public Error { public: using Error::Error; };

}  // namespace elbo

#define ELBO_CHECK(cond, ...) \
  do { if (!(cond)) [[unlikely]] throw ::elbo::Error(::fmt::format(__VA_ARGS__)); } while (0)
#define ELBO_CHECK_SHAPE(cond, ...) \
  do { if (!(cond)) [[unlikely]] throw ::elbo::ShapeError(::fmt::format(__VA_ARGS__)); } while (0)
#define ELBO_CHECK_VALUE(cond, ...) \
  do { if (!(cond)) [[unlikely]] throw ::elbo::ValueError(::fmt::format(__VA_ARGS__)); } while (0)
#define ELBO_ASSERT(cond)                                                                       \
  do {                                                                                          \
    if (!(cond)) [[unlikely]]                                                                   \
      throw ::elbo::Error(::fmt::format("internal error: {} at {}:{} (please report)", #cond, \
                                        __FILE__, __LINE__));                                   \
  } while (0)
