#pragma once
#include <cstdint>
#include <string>

namespace cgan {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};

// Number of usable CUDA devices. A machine without a driver ("CUDA driver version is
// insufficient") or without a GPU has 0: that is a normal state, not an error.
int cuda_device_count();
inline bool cuda_available() { return cuda_device_count() > 0; }
// Why cuda_device_count() is 0, in words (the CUDA runtime's status string); empty if > 0.
std::string cuda_unavailable_reason();
// Short description of a device: "CPU" or "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)".
std::string device_description(Device d);
// 10 * major + minor (e.g. 90 for an H100/H200); 0 for the CPU.
int compute_capability(Device d);

// Memory a new job may still use on `d`, in bytes: MemAvailable from /proc/meminfo for the
// CPU, free device memory for CUDA (the caching allocator's idle blocks not counted). 0 when
// it cannot be told.
uint64_t available_memory_bytes(Device d);

// What the user asked for: "auto" (CUDA if present, else CPU), "cpu", "cuda", "cuda:N".
// Throws cgan::Error for anything else; throws cgan::NoDeviceError when CUDA is required
// but not usable, with the reason.
Device select_device(const std::string& request);

}  // namespace cgan
