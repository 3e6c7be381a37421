#pragma once
// Errors are exceptions that say what went wrong and what to do, in words a user can act on.
// Library code never calls exit(); callers decide what a failure means.
//
// A cgan::Error has two parts:
//   message()  for the user: which file/tensor/option was wrong and what to do about it;
//   detail()   for a bug report: the failing call or check expression, source file and line,
//              and the library status ("" when there is none).
// what() is the message alone, or "message [detail]" when debugging is on: CGAN_DEBUG=1 in
// the environment, or set_debug_errors(true) (the tools' --verbose).
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace cgan {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
  explicit Error(const char* message) : std::runtime_error(message) {}
  Error(const std::string& message, const std::string& detail);

  // What the user is told (never the internal detail).
  const char* message() const noexcept { return std::runtime_error::what(); }
  // The internal context (check expression or call, file:line, status); "" when none.
  const char* detail() const noexcept;
  // message(), plus " [detail]" when debug_errors() is on.
  const char* what() const noexcept override;

 private:
  struct Extra {
    std::string detail, full;
  };
  std::shared_ptr<const Extra> extra_;  // shared: copying an exception must not throw
};

// Thrown when a CUDA device is asked for but none can be used.
class NoDeviceError : public Error {
 public:
  using Error::Error;
};

// Whether what() includes the internal detail: CGAN_DEBUG set to anything but "" or "0", or
// set_debug_errors(true) (which takes precedence over the environment once called).
bool debug_errors() noexcept;
void set_debug_errors(bool on) noexcept;

namespace detail {
// `what` names the kind of failure ("check failed", "CUDA error", ...), `call` the expression,
// `status` the message (a check's text, or the library's status string).
[[noreturn]] void throw_error(const char* what, const char* call, const char* file, int line,
                              const std::string& status);
}  // namespace detail

}  // namespace cgan

// CGAN_CHECK(cond, message-stream-expression): throws cgan::Error whose message is the
// stream's text (say what was wrong with which file/tensor and what to do) and whose detail
// is the expression, file and line.
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
    ::cgan::detail::throw_error("failed", "", __FILE__, __LINE__,                   \
                                cgan_check_os_.str());                              \
  } while (0)
