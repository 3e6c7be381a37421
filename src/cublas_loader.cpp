#ifndef CGAN_CUDA_EMULATION
#include "cublas_loader.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "cgan/error.hpp"

namespace cgan::detail {
namespace {

#define CGAN_STR2(x) #x
#define CGAN_STR(x) CGAN_STR2(x)
constexpr const char* kCublasSoname = "libcublas.so." CGAN_STR(CUBLAS_VER_MAJOR);

// The folder of the libcudart this library runs with, so that a matching cuBLAS is preferred.
std::string cudart_folder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cudaGetDeviceCount), &info) == 0 || !info.dli_fname)
    return {};
  const std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}

CublasApi load() {
  // A cuBLAS the process already has (the application's own) comes first: a second copy
  // would hand out handles the application's cuBLAS calls cannot use.
  void* lib = dlopen(kCublasSoname, RTLD_NOW | RTLD_NOLOAD);
  if (!lib)
    if (const std::string dir = cudart_folder(); !dir.empty())
    lib = dlopen((dir + kCublasSoname).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) lib = dlopen(kCublasSoname, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    throw Error(std::string("cannot load cuBLAS (") + kCublasSoname +
                "): " + (why ? why : "unknown dlopen error"));
  }
  auto sym = [&](const char* name) {
    void* f = dlsym(lib, name);
    if (!f) throw Error(std::string("cuBLAS library ") + kCublasSoname + " lacks " + name);
    return f;
  };
  CublasApi api{};
  api.create = reinterpret_cast<decltype(api.create)>(sym("cublasCreate_v2"));
  api.destroy = reinterpret_cast<decltype(api.destroy)>(sym("cublasDestroy_v2"));
  api.set_stream = reinterpret_cast<decltype(api.set_stream)>(sym("cublasSetStream_v2"));
  return api;  // the library stays loaded for the process's lifetime
}

}  // namespace

const CublasApi& cublas_api() {
  static std::once_flag once;
  static CublasApi api{};
  std::call_once(once, [] { api = load(); });  // a throw leaves it to be retried next call
  return api;
}

}  // namespace cgan::detail
#endif
