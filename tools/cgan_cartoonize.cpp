// cgan_cartoonize: photos -> cartoons with a pretrained CartoonGAN generator.
//
//   cgan_cartoonize --weights hayao.safetensors photo.jpg dir/ -o out/ [--max-side 450]
//   cgan_cartoonize --style hayao photo.jpg -o cartoon.jpg   (after scripts/download_models.sh)
//
// Unreadable inputs are reported and skipped; the exit status is non-zero if any failed.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cgan/cartoonize.hpp"
#include "cgan/device.hpp"
#include "cgan/io_util.hpp"
#include "cgan/resize.hpp"

namespace fs = std::filesystem;
using namespace cgan;

namespace {

struct Job {
  std::string input, output;
  size_t index = 0;  // position among the inputs (the grid keeps their order)
  Image image;       // prepared (resized) input
};

// Peak memory of one forward pass of the official generator, per input pixel: measured on the
// CPU (bench_cartoonize: 152.8 MiB at 256x256, ~2.3 GB per megapixel, growing linearly), plus
// the weights and buffers that do not grow. The GPU path needs less; the same bound is used.
constexpr double kBytesPerPixel = 2400.0;
constexpr double kFixedBytes = 256.0 * 1024 * 1024;
double gib(double bytes) { return std::round(bytes / (1024.0 * 1024 * 1024) * 10) / 10; }

std::string lower_extension(const std::string& path) {
  std::string e = fs::path(path).extension().string();
  if (!e.empty()) e.erase(0, 1);
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

// Image formats a user might ask for that we do not write: an error rather than a folder
// named "out.tiff".
bool looks_like_image_ext(const std::string& e) {
  for (const char* x : {"tif", "tiff", "webp", "gif", "jp2", "heic", "heif", "avif", "ppm",
                        "pgm", "pnm", "exr", "hdr", "tga", "ico", "jxl"})
    if (e == x) return true;
  return false;
}

// One picture to look at: a row per input, photo | cartoon, each scaled to `row_height`.
Image side_by_side_grid(const std::vector<std::pair<Image, Image>>& rows, int row_height) {
  const int gap = 6;
  std::vector<std::pair<Image, Image>> scaled;
  int width = 0;
  for (const auto& [photo, cartoon] : rows) {
    auto fit = [&](const Image& im) {
      const int w = std::max(1, static_cast<int>(std::lround(double(im.width) * row_height /
                                                             std::max(im.height, 1))));
      return resize_bicubic(im, w, row_height);
    };
    scaled.emplace_back(fit(photo), fit(cartoon));
    width = std::max(width, scaled.back().first.width + gap + scaled.back().second.width);
  }
  const int n = static_cast<int>(scaled.size());
  Image grid(width + 2 * gap, n * row_height + (n + 1) * gap);
  std::fill(grid.pixels.begin(), grid.pixels.end(), uint8_t{255});
  auto blit = [&](const Image& im, int x0, int y0) {
    for (int y = 0; y < im.height; ++y)
      std::copy(im.at(0, y), im.at(0, y) + 3 * im.width, grid.at(x0, y0 + y));
  };
  for (int r = 0; r < n; ++r) {
    const int y = gap + r * (row_height + gap);
    blit(scaled[r].first, gap, y);
    blit(scaled[r].second, 2 * gap + scaled[r].first.width, y);
  }
  return grid;
}

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

// Where `--style NAME` looks for models/cartoongan_NAME.safetensors (what
// scripts/download_models.sh writes): $CGAN_MODELS, ./models, then the repository's models/
// beside the build folder holding this executable.
std::vector<fs::path> model_dirs(const char* argv0) {
  std::vector<fs::path> dirs;
  if (const char* e = std::getenv("CGAN_MODELS"); e && *e) dirs.emplace_back(e);
  dirs.emplace_back("models");
  std::error_code ec;
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  const fs::path here = ec ? fs::absolute(argv0).parent_path() : exe.parent_path();
  dirs.push_back(here.parent_path() / "models");
  return dirs;
}

std::string find_style(const std::string& style, const char* argv0) {
  const std::string name = "cartoongan_" + style + ".safetensors";
  std::ostringstream looked;
  for (const fs::path& d : model_dirs(argv0)) {
    std::error_code ec;
    if (fs::is_regular_file(d / name, ec)) return (d / name).string();
    looked << " " << (d / name).string();
  }
  CGAN_FAIL("no weights for style '" << style << "' (looked for" << looked.str()
                                     << "); get them with: bash scripts/download_models.sh "
                                     << style);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cartoonize photos with a CartoonGAN generator"};
  std::string weights, style, output, arch, device = "auto";
  std::vector<std::string> inputs;
  int max_side = -1, batch = 4;
  bool bgr = false, rgb = false;
  auto* o_weights = app.add_option("--weights", weights, "generator weights (.safetensors)");
  app.add_option("--style", style,
                 "an official style downloaded by scripts/download_models.sh (models/"
                 "cartoongan_STYLE.safetensors or $CGAN_MODELS/...), with the official "
                 "preprocessing (--max-side 450 unless given)")
      ->check(CLI::IsMember({"hayao", "hosoda", "paprika", "shinkai"}))
      ->excludes(o_weights);
  app.add_option("--arch", arch,
                 "generator architecture; default: the file's __metadata__, else recognized "
                 "from its tensor names")
      ->check(CLI::IsMember({"official", "seed"}));
  app.add_option("inputs", inputs, "image files or directories")->required();
  app.add_option("-o,--output", output,
                 "output file (one input file) or directory (created if needed)")
      ->required();
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N");
  app.add_option("--max-side", max_side,
                 "resize so the longer side is N (PIL bicubic, as the official model); 0 keeps "
                 "the size (the default, or 450 with --style)")
      ->check(CLI::NonNegativeNumber);
  std::string grid;
  app.add_option("--grid", grid,
                 "also write one image FILE with a row per input: photo | cartoon");
  app.add_option("--batch", batch, "images per forward pass (same-size images only)")
      ->check(CLI::PositiveNumber);
  auto* o_bgr = app.add_flag("--bgr", bgr,
                             "the weights expect BGR input (default: the file's __metadata__, "
                             "else BGR for official, RGB for seed)");
  app.add_flag("--rgb", rgb, "the weights expect RGB input")->excludes(o_bgr);
  CLI11_PARSE(app, argc, argv);
  if (weights.empty() && style.empty()) {
    std::cerr << "error: give --weights FILE or --style "
                 "hayao|hosoda|paprika|shinkai\n";
    return 1;
  }

  try {
    if (!style.empty()) {
      weights = find_style(style, argv[0]);
      if (max_side < 0) max_side = 450;
    }
    auto ctx = Context::create(device);
    CartoonizeOptions opt;
    if (!arch.empty()) opt.arch = parse_generator_arch(arch);
    opt.max_side = std::max(max_side, 0);
    if (bgr) opt.order = ChannelOrder::BGR;
    if (rgb) opt.order = ChannelOrder::RGB;
    Cartoonizer cartoonizer(weights, opt, *ctx);
    std::cout << "weights " << weights << ": " << generator_arch_name(cartoonizer.arch())
              << " generator, " << (cartoonizer.order() == ChannelOrder::BGR ? "BGR" : "RGB")
              << " input" << (opt.max_side ? ", longer side " + std::to_string(opt.max_side)
                                           : std::string())
              << std::endl;

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
    const std::string out_ext = lower_extension(output);
    if (files.size() > 1 && is_image_path(output) && !fs::is_directory(output)) {
      std::cerr << "error: -o " << output << " names one image file, but there are "
                << files.size() << " inputs: give a folder\n";
      return 1;
    }
    if (!to_file && !fs::is_directory(output) && !out_ext.empty() && looks_like_image_ext(out_ext)) {
      std::cerr << "error: -o " << output << ": ." << out_ext
                << " is not a format cgan_cartoonize writes (.png, .jpg, .jpeg, .bmp)\n";
      return 1;
    }
    // Prove the output folder writable before any inference (which may take minutes), and
    // clear temp files that killed runs of ours left there.
    const fs::path out_dir = to_file ? fs::absolute(output).parent_path() : fs::path(output);
    {
      std::error_code ec;
      fs::create_directories(out_dir, ec);
      if (ec) {
        std::cerr << "error: cannot create output folder " << out_dir.string() << ": "
                  << ec.message() << "\n";
        return 1;
      }
      const std::string probe = (out_dir / ".cgan-write-test").string();
      write_file_atomic(probe, "", 0);
      fs::remove(probe, ec);
      remove_stale_temp_files(out_dir.string());
    }

    const auto t0 = std::chrono::steady_clock::now();
    std::map<std::pair<int, int>, std::vector<Job>> by_size;  // same-size images batch together
    std::set<std::string> outputs;
    const uint64_t avail = available_memory_bytes(ctx->device());
    std::vector<std::pair<Image, Image>> grid_rows(grid.empty() ? 0 : files.size());
    std::vector<bool> grid_done(grid_rows.size(), false);
    for (size_t k = 0; k < files.size(); ++k) {
      const std::string& f = files[k];
      try {
        Job j;
        j.index = k;
        j.input = f;
        j.output = to_file ? output : (fs::path(output) / fs::path(f).filename()).string();
        CGAN_CHECK(outputs.insert(j.output).second,
                   "another input already writes " << j.output);
        std::error_code ec;
        CGAN_CHECK(!(fs::exists(j.output, ec) && fs::equivalent(j.output, f, ec)),
                   "the output " << j.output << " is this input file: refusing to overwrite "
                                 << "an original (choose another -o)");
        Image photo = read_image(f);
        const auto [tw, th] = opt.max_side > 0
                                  ? fit_longer_side(photo.width, photo.height, opt.max_side)
                                  : std::pair<int, int>{photo.width, photo.height};
        // What a forward pass will cost, before anything is resized or run: an impossible
        // request fails at once with the numbers instead of meeting the OOM killer later.
        const double need = kBytesPerPixel * double(tw) * double(th) + kFixedBytes;
        CGAN_CHECK(avail == 0 || need <= 0.9 * double(avail),
                   tw << "x" << th << " needs about " << gib(need) << " GiB ("
                      << gib(kBytesPerPixel * 1e6) << " GiB per megapixel), "
                      << gib(double(avail)) << " GiB available on "
                      << device_description(ctx->device())
                      << ": use --max-side (e.g. --max-side 1600)");
        j.image = cartoonizer.prepare(photo);
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
      // Same-size images share a forward pass only as far as memory allows.
      const double per_image = kBytesPerPixel * double(size.first) * double(size.second);
      size_t group_batch = static_cast<size_t>(batch);
      if (avail > 0)
        group_batch = std::clamp<size_t>(
            static_cast<size_t>((0.9 * double(avail) - kFixedBytes) / per_image), 1, group_batch);
      for (size_t b = 0; b < jobs.size(); b += group_batch) {
        const size_t e = std::min(jobs.size(), b + group_batch);
        std::vector<Image> imgs;
        for (size_t i = b; i < e; ++i) imgs.push_back(std::move(jobs[i].image));
        auto keep_for_grid = [&](const std::vector<Image>& outs) {
          for (size_t i = b; !grid.empty() && i < e; ++i) {
            grid_rows[jobs[i].index] = {imgs[i - b], outs[i - b]};
            grid_done[jobs[i].index] = true;
          }
        };
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
        keep_for_grid(outs);
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
    if (!grid.empty()) {
      std::vector<std::pair<Image, Image>> rows;
      for (size_t k = 0; k < grid_rows.size(); ++k)
        if (grid_done[k]) rows.push_back(std::move(grid_rows[k]));
      if (rows.empty()) {
        std::cerr << "error: " << grid << ": no image was cartoonized\n";
        ++failures;
      } else {
        try {
          write_image(grid, side_by_side_grid(rows, 256));
          std::cout << "wrote " << grid << " (" << rows.size() << " rows: photo | cartoon)"
                    << std::endl;
        } catch (const std::exception& ex) {
          std::cerr << "error: " << grid << ": " << ex.what() << "\n";
          ++failures;
        }
      }
    }
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
