#pragma once
// The parsers of what a resume reads besides tensors, separate so the fuzz harnesses can call
// them: checkpoint metadata (JSON) and losses.csv.
#include <cstdint>
#include <istream>
#include <string>
#include <utility>
#include <vector>

#include "cgan/train.hpp"

namespace cgan::train::detail {

// One entry per step in [0, before_step), in step order: a later row for a step replaces an
// earlier one; rows that do not parse are dropped. Each with its original text.
std::vector<std::pair<StepLosses, std::string>> parse_losses_csv(std::istream& in,
                                                                 int64_t before_step);
// The training configuration stored in a checkpoint's "cgan_train" metadata, validated.
// Throws (cgan::Error or nlohmann::json::exception) for anything malformed or out of range.
TrainConfig config_from_checkpoint_text(const std::string& text);

}  // namespace cgan::train::detail
