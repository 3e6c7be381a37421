#pragma once
// Errors are exceptions that say which call failed, where, and why.
// Library code never calls exit(); callers decide what a failure means.
#include <sstream>
#include <stdexcept>
#include <string>

namespace cgan {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when a CUDA device is asked for but none can be used.
class NoDeviceError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] void throw_error(const char* what, const char* call, const char* file, int line,
                              const std::string& status);
}  // namespace detail

}  // namespace cgan

// CGAN_CHECK(cond, message-stream-expression): throws cgan::Error naming file and line.
#define CGAN_CHECK(cond, msg)                                                       \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::ostringstream cgan_check_os_;                                            \
      cgan_check_os_ << msg;                                                        \
      ::cgan::detail::throw_error("check failed", #cond, __FILE__, __LINE__,        \
                                  cgan_check_os_.str());                            \
    }                                                                               \
  } while (0)

#define CGAN_FAIL(msg)                                                              \
  do {                                                                              \
    std::ostringstream cgan_check_os_;                                              \
    cgan_check_os_ << msg;                                                          \
    throw ::cgan::Error(cgan_check_os_.str());                                      \
  } while (0)
