#include "cgan/io_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cgan/error.hpp"

namespace cgan {

namespace {
// "cannot write 'PATH': <errno text> (<what to do>)".
Error write_error(const std::string& path, int err) {
  std::string m = "cannot write '" + path + "': " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR: {
      std::error_code ec;
      const std::filesystem::path dir = std::filesystem::path(path).parent_path();
      if (!std::filesystem::is_directory(dir.empty() ? "." : dir, ec))
        m += " (its folder does not exist: create it, or choose another path)";
      break;
    }
    case EACCES:
    case EPERM:
    case EROFS: m += " (no permission to write there: choose another path)"; break;
    case ENOSPC:
    case EDQUOT: m += " (the disk is full: free some space, or choose another path)"; break;
    case EISDIR: m += " (a folder has that name: choose another path)"; break;
    default: break;
  }
  return Error(m);
}
}  // namespace

void write_file_atomic(const std::string& path, const void* bytes, size_t size) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw write_error(path, errno);
  const char* p = static_cast<const char*>(bytes);
  size_t left = size;
  while (left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw write_error(path, err);
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw write_error(path, err);
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw write_error(path, err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw write_error(path, err);
  }
}

std::vector<unsigned char> read_file(const std::string& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::is_directory(st))
    throw Error("cannot read '" + path + "': it is a directory, not a file");
  if (!ec && !std::filesystem::is_regular_file(st))
    throw Error("cannot read '" + path + "': not a regular file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  f.seekg(0, std::ios::end);
  const std::streamoff n = f.tellg();
  if (n < 0) throw Error("cannot read '" + path + "' (is it a directory?)");
  f.seekg(0, std::ios::beg);
  std::vector<unsigned char> buf(static_cast<size_t>(n));
  if (n > 0 && !f.read(reinterpret_cast<char*>(buf.data()), n))
    throw Error("cannot read '" + path + "'");
  return buf;
}

namespace {
// A killed process that nobody has reaped yet (a zombie: in containers whose init does not
// reap) still answers kill(pid, 0); it writes nothing any more.
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  const size_t close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}
}  // namespace

int remove_stale_temp_files(const std::string& dir) {
  namespace fs = std::filesystem;
  int removed = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp-");
    if (at == std::string::npos || at + 5 >= name.size()) continue;
    std::string digits = name.substr(at + 5);
    // VideoWriter's temporaries keep the extension the encoder needs: "<name>.tmp-<pid>.<ext>".
    if (const size_t dot = digits.find('.'); dot != std::string::npos) digits.erase(dot);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos ||
        digits.size() > 9)
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    // Ours and still being written by a live process (this one included): leave it.
    if (pid == ::getpid() || (pid > 0 && process_alive(pid))) continue;
    std::error_code rm;
    if (e.is_regular_file(rm) && fs::remove(e.path(), rm)) ++removed;
  }
  return removed;
}

}  // namespace cgan
