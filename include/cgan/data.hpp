#pragma once
// The trainer's data pipeline: photo and cartoon folders, (optionally) precomputed
// edge-smoothed cartoons, deterministic augmentation and a background prefetch queue.
//
// Determinism: which image goes where, its crop and its flip are pure functions of
// (seed, epoch, step, slot), so batch k of epoch e is the same whatever the thread timing and
// whether training was interrupted and resumed in between.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cgan/context.hpp"
#include "cgan/image.hpp"
#include "cgan/smooth.hpp"
#include "cgan/tensor.hpp"

namespace cgan::train {

// Image files (JPEG, PNG, BMP by extension) under `dir`, recursively, sorted by path so the
// order does not depend on the file system. Throws cgan::Error naming `what` and the folder
// when it is missing, not a folder, or holds no image.
std::vector<std::string> list_images(const std::string& dir, const std::string& what);

// For every cartoon, the file of the same relative path (any image extension) under
// `smoothed_dir`. Throws naming the first cartoon without a counterpart.
std::vector<std::string> match_smoothed(const std::vector<std::string>& cartoons,
                                        const std::string& cartoon_dir,
                                        const std::string& smoothed_dir);

// Shorter side resized to `size` (antialiased when shrinking), then a size x size crop at
// (crop_x, crop_y) in [0,1] of the free range, optionally mirrored left-right.
Image augment(const Image& in, int size, double crop_x, double crop_y, bool flip);

struct DataOptions {
  std::string photo_dir, cartoon_dir, smoothed_dir;  // smoothed_dir empty: smooth on the fly
  int size = 256;
  int batch = 8;
  uint64_t seed = 0;
  int threads = 2;          // decoding threads
  int prefetch = 4;         // batches decoded ahead of the consumer
  // Smooth cartoons in the loader threads (CPU) instead of leaving it to the consumer
  // (which smooths the batch on the training device: see Batch::smoothed_ready).
  bool smooth_on_cpu = true;
  SmoothOptions smooth;
  ChannelOrder order = ChannelOrder::RGB;  // channel order of the batch tensors
  // Warnings (unreadable images). Default: stderr.
  std::function<void(const std::string&)> log;
};

// One training step's data, as host (CPU) float tensors [B,3,S,S] in [-1,1].
struct Batch {
  int64_t epoch = 0, step = 0;  // step within the epoch
  Tensor photos, cartoons, smoothed;
  bool smoothed_ready = false;  // false: `smoothed` is undefined, smooth `cartoons` yourself
};

struct DataStats {
  double wait_seconds = 0;     // time the consumer blocked in next()
  int64_t batches = 0;
  int64_t skipped_images = 0;  // distinct unreadable files met so far
};

class DataLoader {
 public:
  // Lists and checks the folders (errors before any work). Threads start on the first
  // next()/seek().
  explicit DataLoader(DataOptions opt);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Steps per epoch: one pass over the photos, floor(photos / batch), at least 1.
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  size_t num_photos() const { return photos_.size(); }
  size_t num_cartoons() const { return cartoons_.size(); }
  const std::vector<std::string>& photo_paths() const { return photos_; }

  // Position the stream at (epoch, step); drops anything prefetched.
  void seek(int64_t epoch, int64_t step);
  // The batch at the current position, then advances (wrapping into the next epoch).
  Batch next();
  // Builds the batch for a position synchronously (no threads; used by next() workers).
  Batch make_batch(int64_t epoch, int64_t step);

  DataStats stats() const;

 private:
  struct Slot {
    int64_t photo = 0, cartoon = 0;
  };
  const std::vector<int64_t>& permutation(int kind, int64_t epoch);
  Image load_or_substitute(const std::vector<std::string>& paths, const std::vector<int64_t>& perm,
                           int64_t pos, int kind, int64_t* chosen);
  Image load_pair_smoothed(int64_t cartoon_index);
  void worker();
  void stop_workers();
  void warn(const std::string& msg);

  DataOptions opt_;
  std::vector<std::string> photos_, cartoons_, smoothed_;
  int64_t steps_per_epoch_ = 1;

  mutable std::mutex mu_;
  std::condition_variable cv_produced_, cv_consumed_;
  std::map<int64_t, Batch> ready_;          // global step index -> batch
  std::set<int64_t> in_progress_;
  std::map<int64_t, std::string> errors_;  // job -> failure, rethrown by next()
  int64_t next_job_ = 0, consume_ = 0;      // global step indices
  uint64_t generation_ = 0;                 // bumped by seek(): stale jobs are dropped
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::map<std::pair<int, int64_t>, std::vector<int64_t>> perms_;  // (kind, epoch) cache
  std::set<std::string> bad_;               // unreadable files, reported once
  DataStats stats_;
};

}  // namespace cgan::train
