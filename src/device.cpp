#include "cgan/device.hpp"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#include "cgan/error.hpp"
#include "cuda_check.hpp"

namespace cgan {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

namespace {
// cudaGetDeviceCount's answer does not change during a process, and asking twice on a
// driverless machine is slow; each call still goes through the runtime (no cached global
// state of ours beyond this function-local value).
cudaError_t device_count_status(int* count) {
  static const std::pair<cudaError_t, int> probed = [] {
    int n = 0;
    cudaError_t st = cudaGetDeviceCount(&n);
    if (st != cudaSuccess) {
      (void)cudaGetLastError();
      n = 0;
    }
    return std::make_pair(st, n);
  }();
  *count = probed.second;
  return probed.first;
}
}  // namespace

int cuda_device_count() {
  int n = 0;
  device_count_status(&n);
  return n;
}

std::string cuda_unavailable_reason() {
  int n = 0;
  cudaError_t st = device_count_status(&n);
  if (st != cudaSuccess)
    return std::string(cudaGetErrorName(st)) + ": " + cudaGetErrorString(st);
  if (n == 0) return "no CUDA device found";
  return "";
}

uint64_t available_memory_bytes(Device d) {
  if (d.is_cuda()) {
    int prev = 0;
    size_t free_b = 0, total_b = 0;
    if (cudaGetDevice(&prev) != cudaSuccess || cudaSetDevice(d.index) != cudaSuccess ||
        cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
      (void)cudaGetLastError();
      free_b = 0;
    }
    (void)cudaSetDevice(prev);
    return free_b;
  }
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
  std::fclose(f);
  return static_cast<uint64_t>(kib) * 1024;
}

std::string device_description(Device d) {
  if (d.is_cpu()) return "CPU";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, d.index) != cudaSuccess) {
    (void)cudaGetLastError();
    return d.str();
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

int compute_capability(Device d) {
  if (d.is_cpu()) return 0;
  int major = 0, minor = 0;
  CGAN_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d.index));
  CGAN_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d.index));
  return 10 * major + minor;
}

Device select_device(const std::string& request) {
  if (request == "cpu") return Device::cpu();
  if (request == "auto" || request.empty()) {
    return cuda_available() ? Device::cuda(0) : Device::cpu();
  }
  int index = 0;
  if (request == "cuda") {
    index = 0;
  } else if (request.rfind("cuda:", 0) == 0) {
    const std::string num = request.substr(5);
    char* end = nullptr;
    long v = std::strtol(num.c_str(), &end, 10);
    if (num.empty() || *end != '\0' || v < 0)
      throw Error("invalid device '" + request + "': expected auto, cpu, cuda or cuda:N");
    index = static_cast<int>(v);
  } else {
    throw Error("invalid device '" + request + "': expected auto, cpu, cuda or cuda:N");
  }
  const int n = cuda_device_count();
  if (n == 0)
    throw NoDeviceError("device '" + request + "' requested but CUDA is not usable here (" +
                        cuda_unavailable_reason() + "); use --device cpu");
  if (index >= n)
    throw NoDeviceError("device '" + request + "' requested but only " + std::to_string(n) +
                        " CUDA device(s) present");
  return Device::cuda(index);
}

}  // namespace cgan
