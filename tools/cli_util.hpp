#pragma once
// What every command-line tool shares: exit statuses, -v/--verbose, and errors a user can act
// on. A library failure (cgan::Error) prints its message, "error: <what was wrong with which
// file, and what to do>"; the internal detail (check expression, source file and line) only
// with --verbose or CGAN_DEBUG=1.
#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <new>
#include <string>

#include "cgan/error.hpp"

namespace cgan_tools {

// Exit statuses, the same in every tool (and in each one's --help).
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // a failure while working: input, output, weights, device
constexpr int kExitUsage = 2;    // the command line is wrong; nothing was done

inline const char* exit_status_text() {
  return "Exit status: 0 success; 1 failure (an input that cannot be read, an output that "
         "cannot be written, bad weights, no usable GPU; other inputs are still processed); "
         "2 the command line is wrong (unknown option, missing or invalid value, conflicting "
         "arguments), nothing was done.\n"
         "Errors say what was wrong and what to do; -v/--verbose or CGAN_DEBUG=1 adds the "
         "internal detail (failing check, source file and line) for bug reports.";
}

// Adds -v/--verbose and the exit statuses (plus `extra`, e.g. a tool's own statuses) to --help.
inline void setup(CLI::App& app, bool& verbose, const std::string& extra = "") {
  app.add_flag("-v,--verbose", verbose,
               "errors also show the internal detail (failing check or call, source file and "
               "line), as CGAN_DEBUG=1 does");
  app.footer(std::string("\n") + exit_status_text() + (extra.empty() ? "" : "\n" + extra));
}

// "error: MESSAGE" and where to look, for a command line that cannot be run. Returns kExitUsage.
inline int usage_error(const CLI::App& app, const std::string& message) {
  std::cerr << "error: " << message << "\nRun '" << app.get_name()
            << " --help' for the options.\n";
  return kExitUsage;
}

// Parses the command line. Returns -1 to go on; otherwise the exit status to return at once
// (0 after --help, kExitUsage after a command-line error, printed in words).
inline int parse(CLI::App& app, int argc, char** argv, const bool& verbose) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // CLI11 checks required and validated arguments before unknown ones; an unknown option
    // is what the user mistyped (and may explain the rest), say that first.
    const std::vector<std::string> extra = app.remaining();
    if (!extra.empty() && extra[0].size() > 1 && extra[0][0] == '-' &&
        !std::isdigit(static_cast<unsigned char>(extra[0][1])))
      return usage_error(app, "unknown option " + extra[0]);
    return usage_error(app, e.what());
  }
  if (verbose) cgan::set_debug_errors(true);
  return -1;
}

// The top-level catch: "error: " + the user's message (+ detail when verbose). kExitFailure.
inline int report(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e))
    std::cerr << "error: out of memory: try smaller inputs or batches (--batch, --max-side, "
                 "--size, --max-memory where the tool has them)\n";
  else
    std::cerr << "error: " << e.what() << "\n";
  return kExitFailure;
}

// "error: FILE: MESSAGE", without naming the file twice when the message already does.
inline void print_file_error(const std::string& file, const std::exception& e,
                             const std::string& prefix = "", const std::string& suffix = "") {
  const std::string what = e.what();
  std::cerr << prefix << "error: "
            << (what.find(file) != std::string::npos ? what : file + ": " + what) << suffix
            << "\n";
}

// An integer option that must be >= `min` (CLI11's NonNegativeNumber/PositiveNumber print
// their double bounds in full, "not in range 0.000000 to 1797693134862315708...").
inline CLI::Validator at_least(long long min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        long long v = 0;
        if (!CLI::detail::lexical_cast(s, v)) return "'" + s + "' is not a whole number";
        if (v < min) return "must be at least " + std::to_string(min) + ", got " + s;
        return std::string();
      },
      ">=" + std::to_string(min));
}

// --device: auto, cpu, cuda or cuda:N (whether CUDA is usable is found out later, exit 1).
inline CLI::Validator device_name() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s == "auto" || s == "cpu" || s == "cuda") return std::string();
        if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 9 &&
            s.find_first_not_of("0123456789", 5) == std::string::npos)
          return std::string();
        return "'" + s + "' is not a device: give auto, cpu, cuda or cuda:N";
      },
      "DEVICE");
}

// --precision: auto, fp32, tf32 or bf16 (whether the device can is found out later, exit 1).
inline CLI::Validator precision_name() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s == "auto" || s == "fp32" || s == "tf32" || s == "bf16") return std::string();
        return "'" + s + "' is not a precision: give auto, fp32, tf32 or bf16";
      },
      "PRECISION");
}
inline const char* precision_help(bool training) {
  return training ? "what the networks compute in: auto (fp32 on the CPU, tf32 on CUDA), fp32, "
                    "tf32 (CUDA: convolutions on TF32 tensor cores) or bf16 (CUDA, compute "
                    "capability 8.0+: bf16 channels-last activations; fp32 statistics, "
                    "accumulation, master weights and checkpoints)"
                  : "what the generator computes in: auto (fp32 on the CPU, tf32 on CUDA), "
                    "fp32, tf32 (CUDA: convolutions on TF32 tensor cores) or bf16 (CUDA, "
                    "compute capability 8.0+: bf16 channels-last activations, fp32 statistics "
                    "and accumulation; whole images only)";
}

// An option naming a folder that must exist.
inline CLI::Validator existing_folder() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        std::error_code ec;
        if (std::filesystem::is_directory(s, ec)) return std::string();
        if (std::filesystem::exists(s, ec)) return "'" + s + "' is a file, not a folder";
        return "folder '" + s + "' does not exist";
      },
      "DIR");
}

// Whether files can be created in `dir` (which must exist): "" if so, else why not. Run before
// work that takes minutes, so that an unwritable output fails at once.
inline std::string probe_writable(const std::string& dir) {
  const std::string probe =
      (std::filesystem::path(dir.empty() ? "." : dir) / ".cgan-write-test.tmp-").string() +
      std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return std::strerror(errno);
  ::close(fd);
  ::unlink(probe.c_str());
  return std::string();
}

// Creates `dir` (and its parents) if needed and proves it writable: "" on success, else a
// message naming the folder, why, and what to do.
inline std::string prepare_output_folder(const std::string& dir, const std::string& option) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    return "cannot create output folder '" + dir + "'" +
           (ec ? ": " + ec.message() : std::string(": a file has that name")) +
           "; choose another " + option;
  if (std::string why = probe_writable(dir); !why.empty())
    return "cannot write to output folder '" + dir + "': " + why + "; choose another " +
           option;
  return std::string();
}

}  // namespace cgan_tools
