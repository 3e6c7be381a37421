#include "cgan/data.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <random>

#include "cgan/error.hpp"
#include "cgan/resize.hpp"
#include "train/rng.hpp"

namespace fs = std::filesystem;

namespace cgan::train {

std::vector<std::string> list_images(const std::string& dir, const std::string& what) {
  CGAN_CHECK(!dir.empty(), "no " << what << " folder given");
  std::error_code ec;
  CGAN_CHECK(fs::exists(dir, ec), what << " folder '" << dir << "' does not exist");
  CGAN_CHECK(fs::is_directory(dir, ec), what << " folder '" << dir << "' is not a folder");
  std::vector<std::string> out;
  // follow_directory_symlink: data sets are often assembled from links to other folders.
  for (auto it = fs::recursive_directory_iterator(
           dir, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && is_image_path(it->path().string()))
      out.push_back(it->path().string());
  }
  CGAN_CHECK(!ec, "cannot list " << what << " folder '" << dir << "': " << ec.message());
  CGAN_CHECK(!out.empty(), what << " folder '" << dir
                                << "' holds no image (.jpg, .jpeg, .png, .bmp; searched "
                                   "recursively)");
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> match_smoothed(const std::vector<std::string>& cartoons,
                                        const std::string& cartoon_dir,
                                        const std::string& smoothed_dir) {
  std::vector<std::string> smoothed = list_images(smoothed_dir, "smoothed-cartoon");
  // Index by relative path without extension: a PNG cartoon may have a JPEG smoothed copy.
  std::map<std::string, std::string> by_stem;
  for (const std::string& p : smoothed) {
    fs::path rel = fs::relative(p, smoothed_dir);
    by_stem[rel.replace_extension().string()] = p;
  }
  std::vector<std::string> out;
  out.reserve(cartoons.size());
  for (const std::string& c : cartoons) {
    fs::path rel = fs::relative(c, cartoon_dir);
    auto it = by_stem.find(fs::path(rel).replace_extension().string());
    CGAN_CHECK(it != by_stem.end(), "smoothed folder '" << smoothed_dir << "' has no counterpart of cartoon '"
                                                        << rel.string() << "' (expected "
                                                        << (fs::path(smoothed_dir) / rel).string()
                                                        << " or the same name with another image extension)");
    out.push_back(it->second);
  }
  return out;
}

Image augment(const Image& in, int size, double crop_x, double crop_y, bool flip) {
  CGAN_CHECK(in.width > 0 && in.height > 0, "augment: empty image");
  CGAN_CHECK(size > 0, "augment: size must be positive, got " << size);
  const double s = double(size) / std::min(in.width, in.height);
  // Never below `size`: rounding must not make the crop larger than the image.
  const int w = std::max(size, static_cast<int>(std::lround(in.width * s)));
  const int h = std::max(size, static_cast<int>(std::lround(in.height * s)));
  // PIL-compatible bicubic (antialiased when shrinking), as torchvision's Resize on PIL
  // images that the reference implementations train with.
  const Image resized = (w == in.width && h == in.height) ? in : resize_bicubic(in, w, h);
  const int x0 = static_cast<int>(std::floor(crop_x * (w - size + 1 - 1e-9)));
  const int y0 = static_cast<int>(std::floor(crop_y * (h - size + 1 - 1e-9)));
  Image out(size, size);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const int sx = x0 + (flip ? size - 1 - x : x);
      const uint8_t* px = resized.at(sx, y0 + y);
      std::copy(px, px + 3, out.at(x, y));
    }
  }
  return out;
}

// ---- DataLoader -----------------------------------------------------------------------

namespace {
enum Kind { kPhoto = 0, kCartoon = 1 };

// Host [B,3,S,S] from images (RGB Image -> requested order).
Tensor host_tensor(const std::vector<Image>& ims, ChannelOrder order) {
  Context cpu;
  return images_to_tensor(ims, order, cpu);
}
}  // namespace

DataLoader::DataLoader(DataOptions opt) : opt_(std::move(opt)) {
  CGAN_CHECK(opt_.size >= 8, "image size must be at least 8, got " << opt_.size);
  CGAN_CHECK(opt_.batch >= 1, "batch size must be at least 1, got " << opt_.batch);
  CGAN_CHECK(opt_.threads >= 1, "loader threads must be at least 1");
  CGAN_CHECK(opt_.prefetch >= 1, "prefetch depth must be at least 1");
  validate_smooth_options(opt_.smooth);
  photos_ = list_images(opt_.photo_dir, "photo");
  cartoons_ = list_images(opt_.cartoon_dir, "cartoon");
  if (!opt_.smoothed_dir.empty())
    smoothed_ = match_smoothed(cartoons_, opt_.cartoon_dir, opt_.smoothed_dir);
  steps_per_epoch_ = std::max<int64_t>(1, static_cast<int64_t>(photos_.size()) / opt_.batch);
  if (!opt_.log) opt_.log = [](const std::string& m) { std::cerr << "warning: " << m << "\n"; };
}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::warn(const std::string& msg) { opt_.log(msg); }

DataStats DataLoader::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

const std::vector<int64_t>& DataLoader::permutation(int kind, int64_t epoch) {
  // Callers hold mu_.
  auto key = std::make_pair(kind, epoch);
  auto it = perms_.find(key);
  if (it != perms_.end()) return it->second;
  const size_t n = kind == kPhoto ? photos_.size() : cartoons_.size();
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 rng(mix_seed(opt_.seed, 0x5348554646ull /*"SHUFF"*/, kind, epoch));
  // Fisher-Yates written out: std::shuffle's algorithm is implementation-defined, and resume
  // must see the same order whichever standard library built the binary.
  for (size_t i = n; i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_index(rng, i));
    std::swap(p[i - 1], p[j]);
  }
  // Keep a handful of epochs: workers may straddle an epoch boundary.
  while (perms_.size() > 6) perms_.erase(perms_.begin());
  return perms_.emplace(key, std::move(p)).first->second;
}

Image DataLoader::load_or_substitute(const std::vector<std::string>& paths,
                                     const std::vector<int64_t>& perm, int64_t pos, int kind,
                                     int64_t* chosen) {
  const int64_t n = static_cast<int64_t>(perm.size());
  // An unreadable file is replaced by the next readable one in the permutation: a pure
  // function of the files, so a resumed run makes the same substitution.
  for (int64_t k = 0; k < n; ++k) {
    const int64_t idx = perm[static_cast<size_t>((pos + k) % n)];
    const std::string& path = paths[static_cast<size_t>(idx)];
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (bad_.count(path)) continue;
    }
    try {
      Image im = read_image(path);
      CGAN_CHECK(im.width > 0 && im.height > 0, "empty image");
      *chosen = idx;
      return im;
    } catch (const std::exception& e) {
      bool first = false;
      {
        std::lock_guard<std::mutex> lk(mu_);
        first = bad_.insert(path).second;
        if (first) ++stats_.skipped_images;
      }
      if (first) warn("skipping unreadable image '" + path + "': " + e.what());
    }
  }
  CGAN_FAIL("no readable image among the " << n << " " << (kind == kPhoto ? "photo" : "cartoon")
                                           << " files (every one failed to decode)");
}

Image DataLoader::load_pair_smoothed(int64_t cartoon_index) {
  const std::string& path = smoothed_[static_cast<size_t>(cartoon_index)];
  // A cartoon whose smoothed copy is unreadable cannot be used at all: no silent fallback
  // to a different pairing.
  return read_image(path);
}

Batch DataLoader::make_batch(int64_t epoch, int64_t step) {
  std::vector<int64_t> pperm, cperm;
  {
    std::lock_guard<std::mutex> lk(mu_);
    pperm = permutation(kPhoto, epoch);
    cperm = permutation(kCartoon, epoch);
  }
  const int B = opt_.batch;
  std::vector<Image> ph(static_cast<size_t>(B)), ca(static_cast<size_t>(B)), sm;
  const bool have_smoothed = !smoothed_.empty();
  if (have_smoothed || opt_.smooth_on_cpu) sm.resize(static_cast<size_t>(B));
  Context cpu;
  for (int i = 0; i < B; ++i) {
    const int64_t pos = step * B + i;
    std::mt19937_64 rng(mix_seed(opt_.seed, 0x41554721ull /*"AUG"*/, epoch, pos));
    const double px = uniform01(rng), py = uniform01(rng), cx = uniform01(rng),
                 cy = uniform01(rng);
    const bool pf = uniform01(rng) < 0.5, cf = uniform01(rng) < 0.5;
    int64_t chosen = 0;
    ph[static_cast<size_t>(i)] = augment(
        load_or_substitute(photos_, pperm, pos % static_cast<int64_t>(pperm.size()), kPhoto, &chosen),
        opt_.size, px, py, pf);
    // Cartoons cycle through their own permutation: the two folders need not be equally big.
    int64_t cpos = pos % static_cast<int64_t>(cperm.size());
    Image cartoon;
    for (;;) {
      cartoon = load_or_substitute(cartoons_, cperm, cpos, kCartoon, &chosen);
      if (!have_smoothed) break;
      try {
        // Same crop and flip for the pair, so D sees the same picture with and without edges.
        sm[static_cast<size_t>(i)] = augment(load_pair_smoothed(chosen), opt_.size, cx, cy, cf);
        break;
      } catch (const std::exception& e) {
        bool first = false;
        {
          std::lock_guard<std::mutex> lk(mu_);
          first = bad_.insert(cartoons_[static_cast<size_t>(chosen)]).second;
          if (first) ++stats_.skipped_images;
        }
        if (first)
          warn("skipping cartoon '" + cartoons_[static_cast<size_t>(chosen)] +
               "': its smoothed copy is unreadable: " + e.what());
      }
    }
    ca[static_cast<size_t>(i)] = augment(cartoon, opt_.size, cx, cy, cf);
    if (!have_smoothed && opt_.smooth_on_cpu)
      sm[static_cast<size_t>(i)] = edge_smooth(ca[static_cast<size_t>(i)], opt_.smooth, cpu);
  }
  Batch b;
  b.epoch = epoch;
  b.step = step;
  b.photos = host_tensor(ph, opt_.order);
  b.cartoons = host_tensor(ca, opt_.order);
  if (!sm.empty()) {
    b.smoothed = host_tensor(sm, opt_.order);
    b.smoothed_ready = true;
  }
  return b;
}

void DataLoader::worker() {
  for (;;) {
    int64_t job = 0;
    uint64_t gen = 0;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_consumed_.wait(lk, [&] {
        return stopping_ || next_job_ < consume_ + opt_.prefetch;
      });
      if (stopping_) return;
      job = next_job_++;
      gen = generation_;
      in_progress_.insert(job);
    }
    Batch b;
    std::string error;
    try {
      b = make_batch(job / steps_per_epoch_, job % steps_per_epoch_);
    } catch (const std::exception& e) {
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      in_progress_.erase(job);
      if (gen == generation_) {
        if (!error.empty()) {
          // Hand the failure to the consumer, which rethrows it on its own thread.
          b = Batch{};
          b.step = -1;
          b.photos = Tensor();
          errors_[job] = error;
        }
        ready_[job] = std::move(b);
      }
    }
    cv_produced_.notify_all();
  }
}

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_consumed_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  stopping_ = false;
}

void DataLoader::seek(int64_t epoch, int64_t step) {
  std::lock_guard<std::mutex> lk(mu_);
  ++generation_;
  ready_.clear();
  errors_.clear();
  consume_ = next_job_ = epoch * steps_per_epoch_ + step;
}

Batch DataLoader::next() {
  if (threads_.empty()) {
    for (int i = 0; i < opt_.threads; ++i) threads_.emplace_back([this] { worker(); });
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lk(mu_);
  const int64_t want = consume_;
  cv_produced_.wait(lk, [&] { return ready_.count(want) > 0; });
  Batch b = std::move(ready_[want]);
  ready_.erase(want);
  auto err = errors_.find(want);
  if (err != errors_.end()) {
    const std::string msg = err->second;
    errors_.erase(err);
    CGAN_FAIL("data loader: " << msg);
  }
  ++consume_;
  stats_.wait_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++stats_.batches;
  lk.unlock();
  cv_consumed_.notify_all();
  return b;
}

}  // namespace cgan::train
