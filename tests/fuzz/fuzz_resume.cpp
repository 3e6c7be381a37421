// libFuzzer: what a resume parses besides tensors: the checkpoint's "cgan_train" metadata
// (JSON -> a validated TrainConfig) and losses.csv (-> the loss history, then the plot).
// Input: JSON text, a NUL byte, CSV text.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "cgan/error.hpp"
#include "cgan/train.hpp"
#include "train/checkpoint_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string all(reinterpret_cast<const char*>(data), size);
  const size_t nul = all.find('\0');
  const std::string meta = all.substr(0, nul);
  const std::string csv = nul == std::string::npos ? std::string() : all.substr(nul + 1);
  try {
    (void)cgan::train::detail::config_from_checkpoint_text(meta);
  } catch (const std::exception&) {  // cgan::Error or nlohmann::json's exceptions
  }
  std::istringstream in(csv);
  const auto rows = cgan::train::detail::parse_losses_csv(in, 1000000);
  std::vector<cgan::train::StepLosses> history;
  for (const auto& r : rows) history.push_back(r.first);
  const cgan::Image plot = cgan::train::plot_losses(history, 320, 200);
  volatile uint8_t sink = plot.pixels.back();
  (void)sink;
  return 0;
}
