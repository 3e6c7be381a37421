#include "cgan/error.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cuda_check.hpp"

namespace cgan {

Error::Error(const std::string& message, const std::string& detail)
    : std::runtime_error(message) {
  if (!detail.empty())
    extra_ = std::make_shared<const Extra>(Extra{detail, message + " [" + detail + "]"});
}

const char* Error::detail() const noexcept { return extra_ ? extra_->detail.c_str() : ""; }

const char* Error::what() const noexcept {
  return extra_ && debug_errors() ? extra_->full.c_str() : message();
}

namespace {
// -1: not set by the program, follow the environment.
std::atomic<int> g_debug_override{-1};
}  // namespace

bool debug_errors() noexcept {
  const int o = g_debug_override.load(std::memory_order_relaxed);
  if (o >= 0) return o != 0;
  const char* e = std::getenv("CGAN_DEBUG");
  return e && *e && std::strcmp(e, "0") != 0;
}

void set_debug_errors(bool on) noexcept { g_debug_override.store(on ? 1 : 0); }

}  // namespace cgan

namespace cgan::detail {

namespace {
// "/work/main/src/video.cpp" -> "src/video.cpp": the repository-relative path is what a bug
// report needs, the build machine's prefix is noise.
const char* source_relative(const char* file) {
  for (const char* dir : {"/src/", "/layers/", "/kernels/", "/optim/", "/tools/", "/include/"}) {
    const char* p = std::strstr(file, dir);
    if (p) return p + 1;
  }
  return file;
}
}  // namespace

void throw_error(const char* what, const char* call, const char* file, int line,
                 const std::string& status) {
  std::ostringstream detail;
  if (call && *call) detail << what << ": " << call << " ";
  detail << "at " << source_relative(file) << ":" << line;
  if (std::strcmp(what, "check failed") == 0 || std::strcmp(what, "failed") == 0) {
    // A check's text is written for the user; the expression is the detail.
    throw Error(status.empty() ? std::string("internal error (rerun with CGAN_DEBUG=1 for the "
                                             "details, and please report it)")
                               : status,
                detail.str());
  }
  // A CUDA / cuBLAS / cuDNN status: never the user's input, so say where to look.
  throw Error(std::string(what) + ": " + status +
                  (debug_errors() ? "" : " (CGAN_DEBUG=1 shows the failing call)"),
              detail.str());
}
#ifndef CGAN_CUDA_EMULATION
const char* cublas_status_string(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}
#endif

}  // namespace cgan::detail
