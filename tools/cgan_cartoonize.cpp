// cgan_cartoonize: photos and videos -> cartoons with a pretrained CartoonGAN generator.
//
//   cgan_cartoonize --weights hayao.safetensors photo.jpg dir/ -o out/ [--max-side 450]
//   cgan_cartoonize --style hayao photo.jpg -o cartoon.jpg   (after scripts/download_models.sh)
//   cgan_cartoonize --style hayao clip.mp4 -o cartoon.mp4 [--frames 100] [--codec FFV1]
//   cgan_cartoonize --style hayao --max-side 0 huge.jpg -o out.png --max-memory 4096
//
// Images too large for memory run in exact tiles (same result). Unreadable inputs are reported
// and skipped. Exit status: 0 all done, 1 any input or output failed (or the weights/device
// did), 2 a command-line error (nothing done); see cli_util.hpp.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <atomic>
#include <exception>
#include <future>
#include <thread>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cgan/cartoonize.hpp"
#include "cgan/device.hpp"
#include "cgan/io_util.hpp"
#include "cgan/resize.hpp"
#include "cgan/video.hpp"
#include "bounded_queue.hpp"
#include "cli_util.hpp"
#include "progress.hpp"

namespace fs = std::filesystem;
using namespace cgan;

namespace {

struct Job {
  std::string input, output;
  size_t index = 0;  // position among the inputs (the grid keeps their order)
  Image image;       // prepared (resized) input
};

using cgan_tools::BoundedQueue;
using cgan_tools::Progress;
using cgan_tools::at_least;
using cgan_tools::print_file_error;

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
        if (e.is_regular_file() &&
            (is_image_path(e.path().string()) || is_video_path(e.path().string())))
          found.push_back(e.path().string());
      if (ec) {
        std::cerr << "error: cannot list " << in << ": " << ec.message() << "\n";
        ++failures;
      }
      std::sort(found.begin(), found.end());
      if (found.empty())
        std::cerr << "warning: no images (.png .jpg .jpeg .bmp) or videos (.mp4 .m4v .mov .mkv "
                     ".avi .webm) in the folder " << in << "\n";
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

// Frames in flight between the stages: enough to keep each busy, few enough to bound memory.
constexpr size_t kQueueBatches = 2;

struct VideoDone {
  int64_t frames = 0;
  int width = 0, height = 0;
  double fps = 0;
  std::string fourcc;
};

// Decode -> cartoonize -> encode on three threads with bounded queues between them, so the
// device is not left waiting on the decoder or the encoder. Frames are prepared exactly as
// images are (--max-side), and run in batches.
VideoDone cartoonize_video(Cartoonizer& c, const std::string& in, const std::string& out,
                           int64_t max_frames, size_t batch, const std::string& codec,
                           Progress& progress, const std::string& label) {
  VideoReader reader(in);
  const VideoInfo info = reader.info();
  Image frame;
  reader.read(frame);  // throws when not even one frame decodes
  Image first = c.prepare(frame);
  const Shape os = Generator::output_shape({1, 3, first.height, first.width});
  VideoWriter writer(out, info.fps, static_cast<int>(os[3]), static_cast<int>(os[2]), codec);
  int64_t total = info.frame_count;
  if (max_frames > 0) total = total > 0 ? std::min(total, max_frames) : max_frames;
  progress.start("frames", total, label);

  BoundedQueue<std::vector<Image>> to_infer(kQueueBatches), to_encode(kQueueBatches);
  std::atomic<bool> failed{false};
  std::exception_ptr decode_error, infer_error, encode_error;
  auto abort_all = [&] {
    failed = true;
    to_infer.close();
    to_encode.close();
  };
  std::thread decoder([&] {
    try {
      std::vector<Image> b;
      b.push_back(std::move(first));
      int64_t n = 1;
      while (!failed && (max_frames <= 0 || n < max_frames)) {
        if (b.size() == batch) {
          if (!to_infer.push(std::move(b))) break;
          b.clear();
        }
        if (!reader.read(frame)) break;
        b.push_back(c.prepare(frame));
        ++n;
      }
      if (!b.empty()) to_infer.push(std::move(b));
    } catch (...) {
      decode_error = std::current_exception();
      abort_all();
    }
    to_infer.close();
  });
  std::thread encoder([&] {
    try {
      std::vector<Image> b;
      while (to_encode.pop(b)) {
        for (const Image& f : b) writer.write(f);
        progress.add(static_cast<int64_t>(b.size()));
      }
    } catch (...) {
      encode_error = std::current_exception();
      abort_all();
    }
  });
  try {
    std::vector<Image> b;
    while (!failed && to_infer.pop(b))
      if (!to_encode.push(c.run(b))) break;
  } catch (...) {
    infer_error = std::current_exception();
    abort_all();
  }
  to_encode.close();
  decoder.join();
  encoder.join();
  progress.finish();
  for (const auto& e : {decode_error, infer_error, encode_error})
    if (e) std::rethrow_exception(e);
  CGAN_CHECK(writer.frames_written() == reader.frames_read(),
             in << ": decoded " << reader.frames_read() << " frames but wrote "
                << writer.frames_written());
  writer.commit();  // only a complete video gets the final name
  return {writer.frames_written(), static_cast<int>(os[3]), static_cast<int>(os[2]), info.fps,
          writer.fourcc()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cartoonize photos and videos with a CartoonGAN generator", "cgan_cartoonize"};
  std::string weights, style, output, arch, device = "auto", precision = "auto", codec;
  bool cuda_graphs = false;
  std::vector<std::string> inputs;
  int max_side = -1, batch = 4, tile = 0;
  int64_t max_frames = 0, max_memory_mib = 0;
  bool bgr = false, rgb = false, no_progress = false, verbose = false;
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
  app.add_option("inputs", inputs,
                 "image files (.png .jpg .bmp), video files (.mp4 .m4v .mov .mkv .avi .webm) or "
                 "directories of them")
      ->required();
  app.add_option("-o,--output", output,
                 "output file (one input file) or directory (created if needed)")
      ->required();
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N")
      ->check(cgan_tools::device_name());
  app.add_option("--precision", precision, cgan_tools::precision_help(false))
      ->check(cgan_tools::precision_name());
  app.add_option("--max-side", max_side,
                 "resize so the longer side is N (PIL bicubic, as the official model); 0 keeps "
                 "the size (the default, or 450 with --style)")
      ->check(at_least(0));
  std::string grid;
  app.add_option("--grid", grid,
                 "also write one image FILE with a row per input image: photo | cartoon");
  app.add_option("--batch", batch, "images or video frames per forward pass (same size only)")
      ->check(at_least(1));
  app.add_option("--tile", tile,
                 "run every image in exact tiles of N pixels (>= 16; same result as whole). "
                 "Default: tiles only for images that do not fit the memory budget")
      ->check(CLI::Range(16, 1 << 20));
  app.add_option("--max-memory", max_memory_mib,
                 "memory budget in MiB (host RAM on the CPU, device memory on CUDA); images "
                 "that would need more run in tiles. Default: 90% of what is available")
      ->check(at_least(1));
  app.add_option("--frames", max_frames, "videos: only the first N frames (a quick preview)")
      ->check(at_least(1));
  app.add_option("--codec", codec,
                 "videos: FOURCC of the output codec (default avc1 = H.264 for .mp4/.mov/.mkv, "
                 "MJPG for .avi, VP80 for .webm; FFV1 is lossless in .mkv/.avi)")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            return s.size() == 4 ? std::string()
                                 : "'" + s + "' is not a FOURCC: give 4 characters, e.g. avc1, "
                                             "MJPG, VP80 or FFV1";
          },
          "FOURCC"));
  app.add_flag("--no-progress", no_progress, "no progress line (it shows only on a terminal)");
  app.add_flag("--cuda-graphs", cuda_graphs,
               "CUDA: record the forward pass per image size once and replay it (video frames, "
               "same-size photos); not yet run on a GPU: off by default");
  auto* o_bgr = app.add_flag("--bgr", bgr,
                             "the weights expect BGR input (default: the file's __metadata__, "
                             "else BGR for official, RGB for seed)");
  app.add_flag("--rgb", rgb, "the weights expect RGB input")->excludes(o_bgr);
  cgan_tools::setup(app, verbose);
  if (const int rc = cgan_tools::parse(app, argc, argv, verbose); rc >= 0) return rc;
  // FFmpeg logs its own view of a damaged video ("moov atom not found") before our error says
  // which file and what is wrong with it: only --verbose / CGAN_DEBUG=1 (or the user's own
  // OPENCV_FFMPEG_LOGLEVEL) keep it. 8 = AV_LOG_FATAL; read when videoio first uses FFmpeg.
  if (!cgan::debug_errors()) ::setenv("OPENCV_FFMPEG_LOGLEVEL", "8", /*overwrite=*/0);
  if (weights.empty() && style.empty())
    return cgan_tools::usage_error(app, "give the generator: --weights FILE.safetensors, or "
                                        "--style hayao|hosoda|paprika|shinkai");

  // What the command line asks for must make sense before any file is read.
  int failures = 0;
  const std::vector<std::string> files = expand_inputs(inputs, failures);
  // A single input file with an image- or video-like output name writes that file;
  // otherwise -o is a directory receiving one output per input, named like the input.
  const bool out_is_file = (is_image_path(output) || is_video_path(output)) &&
                           !fs::is_directory(output);
  const bool to_file = files.size() == 1 && !fs::is_directory(files[0]) && out_is_file;
  const std::string out_ext = lower_extension(output);
  if (files.size() > 1 && out_is_file)
    return cgan_tools::usage_error(app, "-o " + output + " names one file, but there are " +
                                            std::to_string(files.size()) +
                                            " inputs: give a folder");
  if (to_file && is_video_path(files[0]) != is_video_path(output))
    return cgan_tools::usage_error(
        app, "-o " + output + ": the input " + files[0] + " is " +
                 (is_video_path(files[0]) ? "a video" : "an image") + ", the output name " +
                 (is_video_path(output) ? "a video" : "an image") +
                 ": give an output name of the same kind (or a folder)");
  if (!to_file && !fs::is_directory(output) && !out_ext.empty() && looks_like_image_ext(out_ext))
    return cgan_tools::usage_error(app, "-o " + output + ": ." + out_ext +
                                            " is not a format cgan_cartoonize writes (.png, "
                                            ".jpg, .jpeg, .bmp)");
  if (files.empty()) {
    std::cerr << "error: no input images or videos: nothing to do\n";
    return cgan_tools::kExitFailure;
  }
  if (!grid.empty() && !is_image_path(grid))
    return cgan_tools::usage_error(app, "--grid " + grid +
                                            ": give an image name (.png, .jpg, .jpeg, .bmp)");

  try {
    if (!style.empty()) {
      weights = find_style(style, argv[0]);
      if (max_side < 0) max_side = 450;
    }
    auto ctx = Context::create(device);
    CartoonizeOptions opt;
    if (!arch.empty()) opt.arch = parse_generator_arch(arch);
    opt.precision = parse_precision(precision);
    opt.max_side = std::max(max_side, 0);
    if (bgr) opt.order = ChannelOrder::BGR;
    if (rgb) opt.order = ChannelOrder::RGB;
    opt.tile = tile;
    opt.cuda_graphs = cuda_graphs;
    opt.max_memory = static_cast<uint64_t>(max_memory_mib) << 20;
    Progress progress(!no_progress);
    opt.tile_progress = [&progress](int64_t d, int64_t t) {
      progress.sub("tile", d, t);
    };
    Cartoonizer cartoonizer(weights, opt, *ctx);
    std::cout << "weights " << weights << ": " << generator_arch_name(cartoonizer.arch())
              << " generator, " << (cartoonizer.order() == ChannelOrder::BGR ? "BGR" : "RGB")
              << " input" << (opt.max_side ? ", longer side " + std::to_string(opt.max_side)
                                           : std::string())
              << std::endl;

    // Prove the output folders writable before any inference (which may take minutes), and
    // clear temp files that killed runs of ours left there.
    const fs::path out_dir = to_file ? fs::absolute(output).parent_path() : fs::path(output);
    if (const std::string why = cgan_tools::prepare_output_folder(out_dir.string(), "-o");
        !why.empty()) {
      std::cerr << "error: " << why << "\n";
      return cgan_tools::kExitFailure;
    }
    remove_stale_temp_files(out_dir.string());
    if (!grid.empty()) {
      const std::string gdir = fs::absolute(grid).parent_path().string();
      std::error_code ec;
      const std::string why = !fs::is_directory(gdir, ec) ? "the folder " + gdir + " does not exist"
                                                          : cgan_tools::probe_writable(gdir);
      if (!why.empty()) {
        std::cerr << "error: cannot write --grid " << grid << ": " << why
                  << "; choose another --grid\n";
        return cgan_tools::kExitFailure;
      }
    }

    const auto t0 = std::chrono::steady_clock::now();
    std::map<std::pair<int, int>, std::vector<Job>> by_size;  // same-size images batch together
    std::vector<Job> videos;
    std::set<std::string> outputs;
    std::vector<std::pair<Image, Image>> grid_rows(grid.empty() ? 0 : files.size());
    std::vector<bool> grid_done(grid_rows.size(), false);
    size_t n_images = 0;
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
        if (is_video_path(f)) {
          videos.push_back(std::move(j));
          continue;
        }
        Image photo = read_image(f);
        const auto [tw, th] = opt.max_side > 0
                                  ? fit_longer_side(photo.width, photo.height, opt.max_side)
                                  : std::pair<int, int>{photo.width, photo.height};
        // Whole or in tiles, decided before anything is resized or run: an image that does
        // not fit even in the smallest tiles fails at once with the numbers.
        const int t = cartoonizer.tile_side(tw, th);
        if (t > 0 && opt.tile == 0)
          std::cout << f << ": " << tw << "x" << th << " does not fit "
                    << (cartoonizer.budget() >> 20) << " MiB whole: exact tiles of " << t
                    << " px" << std::endl;
        j.image = cartoonizer.prepare(photo);
        by_size[{j.image.width, j.image.height}].push_back(std::move(j));
        ++n_images;
      } catch (const std::exception& e) {
        print_file_error(f, e);
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
      progress.add(w.done + w.failures);
      if (!w.errors.empty()) {
        progress.finish();
        std::cerr << w.errors;
      }
    };
    if (n_images > 0) progress.start("images", static_cast<int64_t>(n_images));
    for (auto& [size, jobs] : by_size) {
      for (size_t b = 0; b < jobs.size(); b += static_cast<size_t>(batch)) {
        const size_t e = std::min(jobs.size(), b + static_cast<size_t>(batch));
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
          progress.finish();
          for (size_t i = b; i < e; ++i) print_file_error(jobs[i].input, ex);
          failures += static_cast<int>(e - b);
          progress.add(static_cast<int64_t>(e - b));
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
              const std::string what = ex.what();
              err << "error: "
                  << (what.find(paths[i]) != std::string::npos ? what : paths[i] + ": " + what)
                  << "\n";
              ++w.failures;
            }
          }
          w.errors = err.str();
          return w;
        });
      }
    }
    collect();
    progress.finish();

    int videos_done = 0;
    int64_t frames_done = 0;
    for (size_t v = 0; v < videos.size(); ++v) {
      const Job& j = videos[v];
      const std::string label = videos.size() > 1 ? "video " + std::to_string(v + 1) + "/" +
                                                        std::to_string(videos.size())
                                                  : fs::path(j.input).filename().string();
      try {
        const auto tv = std::chrono::steady_clock::now();
        const VideoDone r = cartoonize_video(cartoonizer, j.input, j.output, max_frames,
                                             static_cast<size_t>(batch), codec, progress, label);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tv).count();
        std::cout << "wrote " << j.output << ": " << r.frames << " frames " << r.width << "x"
                  << r.height << " at " << r.fps << " fps (" << r.fourcc << ") in " << s
                  << " s, " << (s > 0 ? r.frames / s : 0.0) << " frames/s; audio is not kept"
                  << std::endl;
        ++videos_done;
        frames_done += r.frames;
      } catch (const std::exception& ex) {
        progress.finish();
        print_file_error(j.input, ex);
        ++failures;
      }
    }

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
          print_file_error(grid, ex);
          ++failures;
        }
      }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::ostringstream what;
    what << done << " image(s)";
    if (!videos.empty()) what << " and " << videos_done << " video(s) (" << frames_done << " frames)";
    const double units = double(done + frames_done);
    std::cout << "cartoonized " << what.str() << " in " << secs << " s ("
              << (secs > 0 ? units / secs : 0.0) << (videos.empty() ? " images/s" : " images+frames/s")
              << ") on " << device_description(ctx->device())
              << (failures ? ", " + std::to_string(failures) + " failed" : std::string())
              << std::endl;
    if (ctx->is_cuda())
      std::cout << "peak device memory " << (ctx->allocator().stats().peak_bytes_in_use >> 20)
                << " MiB (allocator high-water mark)" << std::endl;
    if (!cartoonizer.graph_fallback_reason().empty())
      std::cerr << "warning: --cuda-graphs: the forward pass could not be recorded ("
                << cartoonizer.graph_fallback_reason() << "); it ran eagerly" << std::endl;
    else if (cuda_graphs && ctx->is_cuda())
      std::cout << cartoonizer.graph_replays() << " forward pass(es) replayed from CUDA graphs"
                << std::endl;
    return failures ? cgan_tools::kExitFailure : cgan_tools::kExitOk;
  } catch (const std::exception& e) {
    return cgan_tools::report(e);
  }
}
