// The training data pipeline alone (cgan/data.hpp): decoding, resizing, cropping and
// flipping photos and cartoons into batches, by the loader's threads, as fast as a consumer
// can take them. The number to hold against the training step: a step of batch B at T ms
// needs 2B images (photo + cartoon, + B smoothed cartoons read from --smoothed or computed on
// the device) every T ms, i.e. 2000 B / T images/s; the loader must beat that with margin.
// Images are counted as photos + cartoons (+ smoothed when the loader smooths on the CPU).
//
// bench_loader [--size 256] [--batch 8] [--batches 40] [--threads 1,2,4] [--smooth-on-cpu]
// Prints one JSON line per thread count.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "cgan/data.hpp"

using namespace cgan;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  try {
    int size = 256, batch = 8, batches = 40;
    bool smooth = false;
    std::vector<int> threads{1, 2};
    if (std::thread::hardware_concurrency() >= 4) threads.push_back(4);
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "--size") size = std::stoi(value());
      else if (a == "--batch") batch = std::stoi(value());
      else if (a == "--batches") batches = std::max(1, std::stoi(value()));
      else if (a == "--smooth-on-cpu") smooth = true;
      else if (a == "--threads") {
        threads.clear();
        std::stringstream ss(value());
        std::string t;
        while (std::getline(ss, t, ',')) threads.push_back(std::max(1, std::stoi(t)));
      } else throw std::runtime_error("unknown argument " + a);
    }
    const fs::path root = fs::path(__FILE__).parent_path().parent_path();
    for (int th : threads) {
      train::DataOptions o;
      o.photo_dir = (root / "data" / "photos").string();
      o.cartoon_dir = (root / "data" / "cartoons").string();
      o.size = size;
      o.batch = batch;
      o.threads = th;
      o.prefetch = 2 * th;
      o.smooth_on_cpu = smooth;
      train::DataLoader loader(o);
      loader.next();  // threads started, first batch (file cache warm)
      const auto t0 = std::chrono::steady_clock::now();
      for (int b = 0; b < batches; ++b) loader.next();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double images = double(batches) * batch * (smooth ? 3 : 2);
      bench::JsonLine line;
      line.str("bench", "loader")
          .integer("size", size)
          .integer("batch", batch)
          .integer("threads", th)
          .str("smooth_on_cpu", smooth ? "yes" : "no")
          .integer("batches", batches)
          .num("batches_per_s", batches / s, 2)
          .num("images_per_s", images / s, 1)
          .num("ms_per_batch", s * 1e3 / batches, 2);
      line.print();
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
