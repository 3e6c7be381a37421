// cgan_cartoonize: photos -> cartoons with a pretrained CartoonGAN generator.
//
//   cgan_cartoonize --weights hayao.safetensors photo.jpg dir/ -o out/ [--max-side 450]
//
// Unreadable inputs are reported and skipped; the exit status is non-zero if any failed.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cgan/cartoonize.hpp"
#include "cgan/device.hpp"

namespace fs = std::filesystem;
using namespace cgan;

namespace {

struct Job {
  std::string input, output;
  Image image;  // prepared (resized) input
};

// Files as given; directories contribute their image files (sorted, not recursive).
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, int& failures) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::directory_iterator(in, ec))
        if (e.is_regular_file() && is_image_path(e.path().string()))
          found.push_back(e.path().string());
      if (ec) {
        std::cerr << "error: cannot list " << in << ": " << ec.message() << "\n";
        ++failures;
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) std::cerr << "warning: no images in directory " << in << "\n";
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cartoonize photos with a CartoonGAN generator"};
  std::string weights, output, arch = "official", device = "auto";
  std::vector<std::string> inputs;
  int max_side = 0, batch = 4;
  bool bgr = false, rgb = false;
  app.add_option("--weights", weights, "generator weights (.safetensors)")->required();
  app.add_option("--arch", arch, "generator architecture")
      ->check(CLI::IsMember({"official", "seed"}));
  app.add_option("inputs", inputs, "image files or directories")->required();
  app.add_option("-o,--output", output,
                 "output file (one input file) or directory (created if needed)")
      ->required();
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N");
  app.add_option("--max-side", max_side,
                 "resize so the longer side is N (PIL bicubic, as the official model); 0 keeps "
                 "the size")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch", batch, "images per forward pass (same-size images only)")
      ->check(CLI::PositiveNumber);
  auto* o_bgr = app.add_flag("--bgr", bgr, "the weights expect BGR input (official default)");
  app.add_flag("--rgb", rgb, "the weights expect RGB input (seed default)")->excludes(o_bgr);
  CLI11_PARSE(app, argc, argv);

  try {
    auto ctx = Context::create(device);
    CartoonizeOptions opt;
    opt.arch = parse_generator_arch(arch);
    opt.max_side = max_side;
    if (bgr) opt.order = ChannelOrder::BGR;
    if (rgb) opt.order = ChannelOrder::RGB;
    Cartoonizer cartoonizer(weights, opt, *ctx);

    int failures = 0;
    const std::vector<std::string> files = expand_inputs(inputs, failures);
    if (files.empty()) {
      std::cerr << "error: no input images\n";
      return 1;
    }
    // A single input file with an image-like output name writes that file; otherwise -o is
    // a directory receiving one output per input, named like the input.
    const bool to_file = files.size() == 1 && !fs::is_directory(files[0]) &&
                         is_image_path(output) && !fs::is_directory(output);
    if (!to_file) fs::create_directories(output);

    const auto t0 = std::chrono::steady_clock::now();
    std::map<std::pair<int, int>, std::vector<Job>> by_size;  // same-size images batch together
    std::set<std::string> outputs;
    for (const std::string& f : files) {
      try {
        Job j;
        j.input = f;
        j.output = to_file ? output : (fs::path(output) / fs::path(f).filename()).string();
        CGAN_CHECK(outputs.insert(j.output).second,
                   "another input already writes " << j.output);
        j.image = cartoonizer.prepare(read_image(f));
        by_size[{j.image.width, j.image.height}].push_back(std::move(j));
      } catch (const std::exception& e) {
        std::cerr << "error: " << f << ": " << e.what() << "\n";
        ++failures;
      }
    }
    int done = 0;
    // Encoding and writing a batch's files runs on a second thread while the next batch is on
    // the device (before, the device idled during every write and the host during every
    // forward). Messages are printed by this thread, in order, when a write finishes.
    struct Written {
      int done = 0, failures = 0;
      std::string errors;
    };
    std::future<Written> pending;
    auto collect = [&] {
      if (!pending.valid()) return;
      const Written w = pending.get();
      done += w.done;
      failures += w.failures;
      std::cerr << w.errors;
    };
    for (auto& [size, jobs] : by_size) {
      for (size_t b = 0; b < jobs.size(); b += static_cast<size_t>(batch)) {
        const size_t e = std::min(jobs.size(), b + static_cast<size_t>(batch));
        std::vector<Image> imgs;
        for (size_t i = b; i < e; ++i) imgs.push_back(std::move(jobs[i].image));
        std::vector<Image> outs;
        try {
          outs = cartoonizer.run(imgs);
        } catch (const std::exception& ex) {
          collect();
          for (size_t i = b; i < e; ++i)
            std::cerr << "error: " << jobs[i].input << ": " << ex.what() << "\n";
          failures += static_cast<int>(e - b);
          continue;
        }
        collect();
        std::vector<std::string> paths;
        for (size_t i = b; i < e; ++i) paths.push_back(jobs[i].output);
        pending = std::async(std::launch::async, [paths = std::move(paths),
                                                  outs = std::move(outs)] {
          Written w;
          std::ostringstream err;
          for (size_t i = 0; i < paths.size(); ++i) {
            try {
              write_image(paths[i], outs[i]);  // atomic: temp file + rename
              ++w.done;
            } catch (const std::exception& ex) {
              err << "error: " << paths[i] << ": " << ex.what() << "\n";
              ++w.failures;
            }
          }
          w.errors = err.str();
          return w;
        });
      }
    }
    collect();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "cartoonized " << done << " image(s) in " << secs << " s ("
              << (secs > 0 ? done / secs : 0.0) << " images/s) on "
              << device_description(ctx->device())
              << (failures ? ", " + std::to_string(failures) + " failed" : std::string())
              << std::endl;
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
