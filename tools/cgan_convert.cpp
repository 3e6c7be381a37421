// cgan_convert: a directory of per-layer .npy files (`conv01_1.weight.npy`, ...) -> one
// safetensors file whose tensor names are the file names without ".npy". Written atomically:
// a failure leaves no file (and no earlier file replaced). Exit status: 0 written, 1 failure,
// 2 a command-line error (see cli_util.hpp).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cgan/npy.hpp"
#include "cgan/safetensors.hpp"
#include "cli_util.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Convert a directory of .npy weight files to one .safetensors file", "cgan_convert"};
  std::string dir, output;
  std::vector<std::string> meta;
  bool verbose = false;
  app.add_option("npy_dir", dir, "directory holding NAME.npy files")
      ->required()
      ->check(cgan_tools::existing_folder());
  app.add_option("-o,--output", output, "output .safetensors file")->required();
  app.add_option("--metadata", meta, "KEY=VALUE pairs for __metadata__ (repeatable), e.g. "
                                     "preprocessing=caffe");
  cgan_tools::setup(app, verbose);
  if (const int rc = cgan_tools::parse(app, argc, argv, verbose); rc >= 0) return rc;
  std::map<std::string, std::string> metadata;
  for (const std::string& kv : meta) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return cgan_tools::usage_error(app, "--metadata expects KEY=VALUE, got '" + kv + "'");
    metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  try {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".npy") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::cerr << "error: no .npy files in " << dir << ": nothing to convert\n";
      return cgan_tools::kExitFailure;
    }
    std::vector<std::pair<std::string, cgan::Tensor>> tensors;
    for (const fs::path& f : files)
      tensors.emplace_back(f.stem().string(), cgan::read_npy(f.string()));
    cgan::write_safetensors(output, tensors, metadata);
    std::cout << "wrote " << tensors.size() << " tensors to " << output << std::endl;
    return cgan_tools::kExitOk;
  } catch (const std::exception& e) {
    return cgan_tools::report(e);
  }
}
