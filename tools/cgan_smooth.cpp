// cgan_smooth: the edge-smoothed copy of a cartoon data set (CartoonGAN's edge-promoting
// adversarial loss needs it).
//
//   cgan_smooth IN_DIR OUT_DIR [--size 256] [--device auto|cpu|cuda] [--side-by-side] [--batch N]
//
// Every .jpg/.jpeg/.png/.bmp under IN_DIR (recursively) is resized to size x size like the seed
// (cv2.resize, bilinear; --size 0 keeps the size), smoothed, and written as PNG under OUT_DIR
// at the same relative path. Output files are written atomically. Unreadable inputs are
// reported and skipped. Exit status: 0 all done, 1 any image failed, 2 a command-line error
// (nothing done); see cli_util.hpp.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include "cgan/device.hpp"
#include "cgan/smooth.hpp"
#include "cli_util.hpp"

namespace fs = std::filesystem;
using namespace cgan;

namespace {

struct Job {
  std::string input, output;
};

bool inside(const fs::path& p, const fs::path& dir) {
  auto d = dir.begin(), q = p.begin();
  for (; d != dir.end(); ++d, ++q)
    if (q == p.end() || *q != *d) return false;
  return true;
}

// Recursive, sorted; skips OUT_DIR when it lies inside IN_DIR so reruns do not feed on their
// own output. Two inputs that would write the same PNG (a.jpg and a.png) keep their
// extension in the name of the second ("a.jpg.png").
std::vector<Job> list_jobs(const fs::path& in_dir, const fs::path& out_dir, int& failures) {
  std::vector<fs::path> files;
  std::error_code ec;
  const fs::path out_abs = fs::weakly_canonical(out_dir, ec);
  fs::recursive_directory_iterator it(in_dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    std::cerr << "error: cannot list " << in_dir << ": " << ec.message() << "\n";
    ++failures;
    return {};
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      std::cerr << "error: while listing " << in_dir << ": " << ec.message() << "\n";
      ++failures;
      break;
    }
    if (it->is_directory() && inside(fs::weakly_canonical(it->path()), out_abs)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && is_image_path(it->path().string())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Job> jobs;
  std::set<std::string> outputs;
  for (const fs::path& f : files) {
    const fs::path rel = fs::relative(f, in_dir);
    fs::path out = out_dir / rel;
    out.replace_extension(".png");
    if (!outputs.insert(out.string()).second) {
      out = out_dir / rel;
      out += ".png";
    }
    outputs.insert(out.string());
    jobs.push_back({f.string(), out.string()});
  }
  return jobs;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Edge-smooth cartoon images (Canny, dilate, blur at the edges) as CartoonGAN's "
               "edge-promoting loss needs", "cgan_smooth"};
  std::string in_dir, out_dir, device = "auto", blur = "gaussian";
  int size = 256, batch = 16;
  bool sbs = false, verbose = false;
  SmoothOptions opt;
  app.add_option("IN_DIR", in_dir, "directory of images (searched recursively)")
      ->required()
      ->check(cgan_tools::existing_folder());
  app.add_option("OUT_DIR", out_dir, "output directory (created if needed)")->required();
  app.add_option("--size", size, "resize to size x size first (cv2.resize bilinear); 0 keeps it")
      ->check(cgan_tools::at_least(0))
      ->capture_default_str();
  app.add_option("--device", device, "auto, cpu, cuda or cuda:N")
      ->check(cgan_tools::device_name())->capture_default_str();
  app.add_flag("--side-by-side", sbs, "write [input | smoothed] as the seed script does");
  app.add_option("--batch", batch, "images per call (the GPU smooths a batch at once)")
      ->check(cgan_tools::at_least(1))
      ->capture_default_str();
  app.add_option("--canny-low", opt.canny_low, "Canny low threshold")->capture_default_str();
  app.add_option("--canny-high", opt.canny_high, "Canny high threshold")->capture_default_str();
  app.add_flag("--l2-gradient", opt.canny_l2_gradient, "Canny with the L2 gradient magnitude");
  app.add_option("--dilate", opt.dilate_size, "dilation square size (odd)")->capture_default_str();
  app.add_option("--blur", blur, "gaussian (the seed) or box (the paper's authors)")
      ->check(CLI::IsMember({"gaussian", "box"}))
      ->capture_default_str();
  app.add_option("--blur-size", opt.blur_size, "blur window size (odd)")->capture_default_str();
  cgan_tools::setup(app, verbose);
  if (const int rc = cgan_tools::parse(app, argc, argv, verbose); rc >= 0) return rc;
  opt.blur = blur == "box" ? SmoothBlur::Box : SmoothBlur::Gaussian;
  try {
    validate_smooth_options(opt);  // its messages name the options (--dilate, ...)
  } catch (const std::exception& e) {
    return cgan_tools::usage_error(app, e.what());
  }
  {
    std::error_code ec;
    if (fs::exists(out_dir, ec) && fs::equivalent(in_dir, out_dir, ec))
      return cgan_tools::usage_error(app, "OUT_DIR " + out_dir +
                                              " is IN_DIR: the smoothed images would replace "
                                              "the originals; choose another folder");
  }

  try {
    auto ctx = Context::create(device);
    std::cerr << "device: " << device_description(ctx->device()) << "\n";
    if (const std::string why = cgan_tools::prepare_output_folder(out_dir, "OUT_DIR");
        !why.empty()) {
      std::cerr << "error: " << why << "\n";
      return cgan_tools::kExitFailure;
    }

    int failures = 0;
    std::vector<Job> jobs = list_jobs(in_dir, out_dir, failures);
    // No output may be one of the inputs (e.g. OUT_DIR inside IN_DIR mirroring a subfolder).
    jobs.erase(std::remove_if(jobs.begin(), jobs.end(),
                              [&](const Job& j) {
                                std::error_code ec;
                                const bool same = fs::exists(j.output, ec) &&
                                                  fs::equivalent(j.output, j.input, ec);
                                if (same) {
                                  std::cerr << "error: " << j.output
                                            << " is an input: refusing to overwrite it\n";
                                  ++failures;
                                }
                                return same;
                              }),
               jobs.end());
    if (jobs.empty()) {
      std::cerr << "error: no images (.jpg, .jpeg, .png, .bmp) under " << in_dir
                << ": nothing to smooth\n";
      return cgan_tools::kExitFailure;
    }
    const auto t0 = std::chrono::steady_clock::now();
    size_t done = 0, processed = 0;
    for (size_t b = 0; b < jobs.size(); b += static_cast<size_t>(batch)) {
      const size_t e = std::min(jobs.size(), b + static_cast<size_t>(batch));
      std::vector<Image> imgs;
      std::vector<const Job*> ok;
      for (size_t i = b; i < e; ++i) {
        try {
          Image im = read_image(jobs[i].input);
          imgs.push_back(size > 0 ? resize_cv_linear(im, size, size) : std::move(im));
          ok.push_back(&jobs[i]);
        } catch (const std::exception& ex) {
          cgan_tools::print_file_error(jobs[i].input, ex, "\n", " (skipped)");
          ++failures;
        }
      }
      std::vector<Image> out;
      try {
        edge_smooth(out, imgs, opt, *ctx);
      } catch (const std::exception& ex) {
        std::cerr << "\nerror: smoothing " << ok.size() << " images from "
                  << (ok.empty() ? std::string("?") : ok.front()->input) << ": " << ex.what()
                  << "\n";
        failures += static_cast<int>(ok.size());
        processed = e;
        continue;
      }
      for (size_t i = 0; i < ok.size(); ++i) {
        try {
          fs::create_directories(fs::path(ok[i]->output).parent_path());
          write_image(ok[i]->output, sbs ? side_by_side(imgs[i], out[i]) : out[i]);
          ++done;
        } catch (const std::exception& ex) {
          cgan_tools::print_file_error(ok[i]->output, ex, "\n");
          ++failures;
        }
      }
      processed = e;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::cerr << "\r[" << processed << "/" << jobs.size() << "] " << done << " written, "
                << (s > 0 ? done / s : 0.0) << " images/s   " << std::flush;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cerr << "\n";
    std::cout << "smoothed " << done << " of " << jobs.size() << " images into " << out_dir
              << " in " << s << " s (" << (s > 0 ? done / s : 0.0) << " images/s, "
              << device_description(ctx->device()) << "), " << failures << " failed\n";
    return failures ? cgan_tools::kExitFailure : cgan_tools::kExitOk;
  } catch (const std::exception& ex) {
    return cgan_tools::report(ex);
  }
}
