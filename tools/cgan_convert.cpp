// cgan_convert: a directory of per-layer .npy files (`conv01_1.weight.npy`, ...) -> one
// safetensors file whose tensor names are the file names without ".npy".
#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cgan/npy.hpp"
#include "cgan/safetensors.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Convert a directory of .npy weight files to one .safetensors file"};
  std::string dir, output;
  std::vector<std::string> meta;
  app.add_option("npy_dir", dir, "directory holding NAME.npy files")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("-o,--output", output, "output .safetensors file")->required();
  app.add_option("--metadata", meta, "KEY=VALUE pairs for __metadata__ (repeatable), e.g. "
                                     "preprocessing=caffe");
  CLI11_PARSE(app, argc, argv);
  try {
    std::map<std::string, std::string> metadata;
    for (const std::string& kv : meta) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "error: --metadata expects KEY=VALUE, got '" << kv << "'\n";
        return 1;
      }
      metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".npy") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      std::cerr << "error: no .npy files in " << dir << "\n";
      return 1;
    }
    std::vector<std::pair<std::string, cgan::Tensor>> tensors;
    for (const fs::path& f : files)
      tensors.emplace_back(f.stem().string(), cgan::read_npy(f.string()));
    cgan::write_safetensors(output, tensors, metadata);
    std::cout << "wrote " << tensors.size() << " tensors to " << output << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
