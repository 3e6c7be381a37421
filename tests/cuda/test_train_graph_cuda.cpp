// CUDA graphs in training (TrainConfig::cuda_graphs): a run whose steps are recorded once per
// phase and replayed must be the eager run, bit for bit: the same kernels on the same data,
// with the per-step values (learning rates under decay, Adam's step count, the batch, the
// on-the-fly smoothed cartoons) read where the graph looks for them. Compared: every tensor
// of the final checkpoint (G and D weights, both Adam's moments), its step counters and every
// loss of losses.csv.
//
// In the emulation build this runs the graph machinery of the emulator (emu/README.md): the
// capture refuses what a GPU refuses (allocation, synchronization), so a step that is not
// capturable fails here. What it cannot check: cuDNN under capture (the emulator runs the
// CPU convolution), and timing.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cgan/device.hpp"
#include "cgan/safetensors.hpp"
#include "cgan/train.hpp"
#include "common/test_util.hpp"
#include "common/train_test_util.hpp"

using namespace cgan;

namespace {

struct RunOutput {
  SafeTensors checkpoint;
  nlohmann::json meta;
  std::vector<std::string> loss_rows;  // losses.csv without the timing columns
  int64_t replays = 0;
};

RunOutput train_run(const std::string& photos, bool graphs, Precision precision) {
  train::TrainConfig c = test::tiny_config(test::temp_dir(graphs ? "graph_run" : "eager_run"));
  c.photo_dir = photos;
  c.device = "cuda";
  c.precision = precision;
  c.size = 16;
  c.batch = 2;
  c.content_layer = "conv3_2";
  c.init_epochs = 2;  // 8 photos, batch 2: 4 steps per epoch, 8 init + 12 adversarial steps
  c.epochs = 3;
  c.lr_decay = true;  // a new learning rate every adversarial step
  c.log_every = 3;
  c.cuda_graphs = graphs;
  train::Trainer t(c);
  // Bit-identity needs the same algorithm for each convolution both ways.
  t.context().deterministic = true;
  const train::TrainResult r = t.run();
  REQUIRE(r.steps_done == 20);
  RunOutput out;
  out.checkpoint = read_safetensors(r.checkpoint_path);
  out.meta = nlohmann::json::parse(out.checkpoint.metadata.at("cgan_train"));
  std::ifstream csv(r.losses_csv);
  std::string line;
  while (std::getline(csv, line)) {
    // step,epoch,phase,d_real,d_smooth,d_fake,g_adv,content,lr_g,lr_d | data_wait_ms,step_ms
    size_t cut = line.size();
    for (int k = 0; k < 2 && cut != std::string::npos; ++k) cut = line.rfind(',', cut - 1);
    out.loss_rows.push_back(line.substr(0, cut));
  }
  out.replays = t.graph_replays();
  return out;
}

void check_graph_run_matches_eager(Precision precision) {
  const std::string photos = test::subset_dir("photos", 8, "photos8_graph");
  const RunOutput eager = train_run(photos, false, precision);
  const RunOutput graph = train_run(photos, true, precision);

  // Per phase: one eager warm-up step, then one recording replayed at once and replays; so
  // 7 of the 8 init steps and 11 of the 12 adversarial steps ran as replays.
  CHECK(eager.replays == 0);
  CHECK(graph.replays == 18);

  CHECK(graph.meta.at("adam_g_steps") == eager.meta.at("adam_g_steps"));
  CHECK(graph.meta.at("adam_d_steps") == eager.meta.at("adam_d_steps"));
  CHECK(eager.meta.at("adam_g_steps") == 20);
  CHECK(eager.meta.at("adam_d_steps") == 12);

  REQUIRE(graph.checkpoint.tensors.size() == eager.checkpoint.tensors.size());
  int compared = 0;
  for (size_t i = 0; i < eager.checkpoint.tensors.size(); ++i) {
    const auto& [name, a] = eager.checkpoint.tensors[i];
    const auto& [name_g, b] = graph.checkpoint.tensors[i];
    INFO(name);
    REQUIRE(name == name_g);
    REQUIRE(a.nbytes() == b.nbytes());
    CHECK(std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0);
    ++compared;
  }
  CHECK(compared > 20);

  REQUIRE(eager.loss_rows.size() == 21);  // header + 20 steps
  CHECK(graph.loss_rows == eager.loss_rows);
}

}  // namespace

TEST_CASE("training with CUDA graphs gives the eager run's weights, moments and losses bit for bit",
          "[cuda]") {
  CGAN_REQUIRE_CUDA();
  SECTION("fp32") { check_graph_run_matches_eager(Precision::FP32); }
  SECTION("bf16 (NHWC maps, fp32 masters and their bf16 copies)") {
    if (compute_capability(Device::cuda(0)) < 80) {
      test::skip("bf16 needs sm_80 or newer");
      return;
    }
    check_graph_run_matches_eager(Precision::BF16);
  }
}
