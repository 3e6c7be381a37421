#pragma once
#include <string>
#include <vector>

namespace cgan {

// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
// Throws cgan::Error with the path and errno text when the directory is not writable.
void write_file_atomic(const std::string& path, const void* bytes, size_t size);
// Reads a whole file; throws cgan::Error naming the path when it cannot.
std::vector<unsigned char> read_file(const std::string& path);
// Removes the "<name>.tmp-<pid>" files write_file_atomic (and "<name>.tmp-<pid>.<ext>" ones
// VideoWriter) leaves when its process is killed
// mid-write, for pids that no longer run. Returns how many it removed.
int remove_stale_temp_files(const std::string& dir);

}  // namespace cgan
