#include "cgan/tiled.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "cgan/conv.hpp"
#include "cgan/ops.hpp"
#include "cgan/preprocess.hpp"

namespace cgan {

namespace {

using Step = GeneratorStep;

// Live intermediate files, for the report.
struct SpillCounter {
  uint64_t live = 0, peak = 0, written = 0;
};

// A [C, H, W] float map in an unlinked temporary file. Stored HWC, so that the row of a
// window (all channels) is one contiguous read or write.
class SpillMap {
 public:
  SpillMap(int64_t c, int64_t h, int64_t w, const std::string& dir, SpillCounter& counter)
      : C(c), H(h), W(w), dir_(dir), counter_(&counter) {
    fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) {  // filesystems without O_TMPFILE: a named file, unlinked at once
      std::string name = dir + "/cgan-tile-XXXXXX";
      fd_ = ::mkstemp(name.data());
      if (fd_ >= 0) ::unlink(name.c_str());
    }
    CGAN_CHECK(fd_ >= 0, "tiled inference: cannot create a temporary file in " << dir << ": "
                             << std::strerror(errno)
                             << " (set TMPDIR or the spill folder to a writable place)");
    counter_->live += bytes();
    counter_->peak = std::max(counter_->peak, counter_->live);
  }
  ~SpillMap() {
    ::close(fd_);
    counter_->live -= bytes();
  }
  SpillMap(const SpillMap&) = delete;
  SpillMap& operator=(const SpillMap&) = delete;

  uint64_t bytes() const { return uint64_t(C) * uint64_t(H) * uint64_t(W) * sizeof(float); }

  // t: host [1, C, h, w], stored at rows [y0, y0+h), columns [x0, x0+w).
  void write(const Tensor& t, int64_t y0, int64_t x0) {
    const int64_t h = t.dim(2), w = t.dim(3);
    CGAN_CHECK(t.dim(1) == C && y0 >= 0 && x0 >= 0 && y0 + h <= H && x0 + w <= W,
               "tiled inference: window " << shape_str(t.shape()) << " at (" << y0 << ", " << x0
                                          << ") outside a [" << C << "," << H << "," << W
                                          << "] map");
    const float* src = t.f32();
    std::vector<float> row(static_cast<size_t>(w * C));
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t c = 0; c < C; ++c) {
        const float* s = src + (c * h + y) * w;
        for (int64_t x = 0; x < w; ++x) row[static_cast<size_t>(x * C + c)] = s[x];
      }
      io(true, row.data(), row.size() * sizeof(float), offset(y0 + y, x0));
    }
    counter_->written += uint64_t(t.nbytes());
  }

  // Host [1, C, y1-y0, x1-x0].
  Tensor read(int64_t y0, int64_t y1, int64_t x0, int64_t x1) const {
    const int64_t h = y1 - y0, w = x1 - x0;
    Tensor t = Tensor::empty_cpu({1, C, h, w});
    float* dst = t.f32();
    std::vector<float> row(static_cast<size_t>(w * C));
    for (int64_t y = 0; y < h; ++y) {
      io(false, row.data(), row.size() * sizeof(float), offset(y0 + y, x0));
      for (int64_t c = 0; c < C; ++c) {
        float* d = dst + (c * h + y) * w;
        for (int64_t x = 0; x < w; ++x) d[x] = row[static_cast<size_t>(x * C + c)];
      }
    }
    return t;
  }

  const int64_t C, H, W;

 private:
  off_t offset(int64_t y, int64_t x) const {
    return static_cast<off_t>((y * W + x) * C * int64_t(sizeof(float)));
  }
  void io(bool writing, float* p, size_t n, off_t off) const {
    char* b = reinterpret_cast<char*>(p);
    while (n > 0) {
      const ssize_t k = writing ? ::pwrite(fd_, b, n, off) : ::pread(fd_, b, n, off);
      if (k < 0 && errno == EINTR) continue;
      CGAN_CHECK(k > 0, "tiled inference: cannot " << (writing ? "write" : "read")
                            << " an intermediate map in " << dir_ << ": "
                            << (k < 0 ? std::strerror(errno) : "unexpected end of file")
                            << " (this image needs up to about "
                            << (3 * bytes() >> 20) << " MiB there; set TMPDIR elsewhere)");
      b += k;
      off += k;
      n -= static_cast<size_t>(k);
    }
  }

  int fd_ = -1;
  std::string dir_;
  SpillCounter* counter_;
};

struct Window {
  int64_t y0, y1, x0, x1;
  int64_t h() const { return y1 - y0; }
  int64_t w() const { return x1 - x0; }
};

double gib(uint64_t b) { return std::round(double(b) / (1 << 30) * 10) / 10; }

std::string resolve_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

// Fails at once, with the numbers, when the maps would not fit the spill folder's disk.
void check_space(uint64_t need, const std::string& dir, int w, int h) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return;  // a missing folder fails when files are made
  const uint64_t avail = uint64_t(fs.f_bavail) * uint64_t(fs.f_frsize);
  CGAN_CHECK(need <= avail, w << "x" << h << " in tiles needs about " << gib(need)
                              << " GiB of temporary space for its intermediate maps in " << dir
                              << ", " << gib(avail)
                              << " GiB available there: set TMPDIR (or the spill folder) to a "
                                 "larger disk, or use a smaller --max-side");
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Where a pass reads its input from.
struct Source {
  enum class Kind { Image, Stored, Normalized } kind = Kind::Image;
  const Image* image = nullptr;  // Image: the prepared input
  ChannelOrder order = ChannelOrder::RGB;
  std::shared_ptr<SpillMap> map;       // Stored: the map; Normalized: the pre-norm map
  std::shared_ptr<SpillMap> residual;  // Normalized: added before the activation, or null
  Tensor mean, rstd;                   // Normalized: [C] on the device, whole-map statistics
  const Tensor* scale = nullptr;
  const Tensor* shift = nullptr;
  ops::Act act = ops::Act::None;

  // [1, C, h, w] on ctx's device.
  Tensor read(const Window& win, Context& ctx) const {
    if (kind == Kind::Image) {
      Image crop(static_cast<int>(win.w()), static_cast<int>(win.h()));
      for (int64_t y = 0; y < win.h(); ++y)
        std::copy(image->at(static_cast<int>(win.x0), static_cast<int>(win.y0 + y)),
                  image->at(static_cast<int>(win.x0), static_cast<int>(win.y0 + y)) + 3 * win.w(),
                  crop.at(0, static_cast<int>(y)));
      return preprocess_images({crop}, order, ctx);
    }
    auto load = [&](const SpillMap& m) {
      Tensor host = m.read(win.y0, win.y1, win.x0, win.x1);
      return ctx.is_cuda() ? host.to(ctx) : host;
    };
    Tensor x = load(*map);
    if (kind == Kind::Stored) return x;
    Tensor r;
    if (residual) r = load(*residual);
    ops::instance_norm_apply(x, x, mean, rstd, scale, shift, residual ? &r : nullptr, act, 0.f,
                             ctx);
    return x;
  }
};

class TiledRun {
 public:
  TiledRun(Generator& gen, const Image& image, ChannelOrder order, const TiledOptions& opt,
           Context& ctx)
      : gen_(gen), image_(image), opt_(opt), ctx_(ctx), steps_(gen.steps()), order_(order) {
    CGAN_CHECK(opt.tile >= 16, "tiled inference: the tile side must be >= 16, got " << opt.tile);
    dir_ = resolve_dir(opt.spill_dir);
    src_.image = &image_;
    src_.order = order;
    // Map sizes after every step.
    Shape s = {1, 3, image.height, image.width};
    for (const Step& st : steps_) {
      if (st.kind == Step::Kind::Conv) {
        const Shape in = {s[0], s[1], s[2] + 2 * st.reflect, s[3] + 2 * st.reflect};
        s = conv_output_shape(in, weight(st).shape(), st.conv->spec);
      }
      sizes_.push_back(s);
    }
    const Shape want = Generator::output_shape({1, 3, image.height, image.width});
    CGAN_CHECK(sizes_.back() == want, "tiled inference: the steps give " << shape_str(sizes_.back())
                                          << ", the generator " << shape_str(want));
  }

  // The most bytes of intermediate maps alive at once: the pre-norm map being written, the
  // map its source reads, and the kept residual.
  uint64_t spill_peak() const {
    auto bytes = [](const Shape& s) { return uint64_t(s[1]) * uint64_t(s[2]) * uint64_t(s[3]) * 4; };
    uint64_t src = 0, kept = 0, peak = 0;
    for (size_t j = 0; j < steps_.size(); ++j) {
      if (steps_[j].kind != Step::Kind::Norm) continue;
      const uint64_t pre = bytes(sizes_[j]);
      peak = std::max(peak, src + kept + pre);
      if (steps_[j].keep) {
        peak = std::max(peak, src + kept + 2 * pre);
        kept = pre;
        src = pre;
      } else {
        src = pre;
      }
    }
    return peak;
  }
  const std::string& dir() const { return dir_; }

  Image run(TiledReport* report) {
    check_space(spill_peak(), dir_, image_.width, image_.height);
    total_tiles_ = count_tiles();
    size_t first = 0;  // first step of the current chain of convolutions
    for (size_t j = 0; j < steps_.size(); ++j) {
      const Step& st = steps_[j];
      if (st.kind != Step::Kind::Norm) continue;
      normalize_pass(first, j);
      first = j + 1;
    }
    Image out = output_pass(first);
    if (report) {
      report->passes = passes_;
      report->tiles = tiles_done_;
      report->spill_bytes_peak = spill_.peak;
      report->spill_bytes_written = spill_.written;
    }
    return out;
  }

 private:
  const Tensor& weight(const Step& st) const { return gen_.params()[st.conv->weight].value; }
  const Tensor* bias(const Step& st) const {
    // As the whole-map forward: a bias a following norm cancels is not added.
    return st.conv->bias >= 0 && !st.conv->bias_cancelled ? &gen_.params()[st.conv->bias].value
                                                           : nullptr;
  }
  Shape size_before(size_t j) const {
    return j == 0 ? Shape{1, 3, image_.height, image_.width} : sizes_[j - 1];
  }

  // The tiles of a map of size s: tile/scale pixels of it per side, rounded down to a multiple
  // of 4. In both generators every stride-1 3x3 convolution (the ones the CPU may run by
  // Winograd, which rounds each 4x4 block of outputs as a whole) ends its pass, so its output
  // windows are these tiles, whose sides then lie on the map's grid of 4x4 blocks (see
  // conv_forward_window).
  std::vector<Window> grid(const Shape& s) const {
    const int64_t th = std::max<int64_t>(8, int64_t(opt_.tile) * s[2] / image_.height / 4 * 4);
    const int64_t tw = std::max<int64_t>(8, int64_t(opt_.tile) * s[3] / image_.width / 4 * 4);
    std::vector<Window> g;
    for (int64_t y = 0; y < s[2]; y += th)
      for (int64_t x = 0; x < s[3]; x += tw)
        g.push_back({y, std::min(s[2], y + th), x, std::min(s[3], x + tw)});
    return g;
  }

  int64_t count_tiles() const {
    int64_t n = 0;
    for (size_t j = 0; j < steps_.size(); ++j) {
      if (steps_[j].kind != Step::Kind::Norm) continue;
      n += static_cast<int64_t>(grid(sizes_[j]).size()) * (steps_[j].keep ? 2 : 1);
    }
    return n + static_cast<int64_t>(grid(sizes_.back()).size());
  }

  void tick() {
    ++tiles_done_;
    if (opt_.progress) opt_.progress(tiles_done_, total_tiles_);
  }

  // Output window `win` of step j, computed by the convolutions first..j from the source.
  Tensor eval(size_t first, size_t j, const Window& win) {
    const Step& st = steps_[j];
    CGAN_CHECK(st.kind == Step::Kind::Conv, "tiled inference: unexpected step in a chain");
    const Shape in = size_before(j);
    const Tensor& w = weight(st);
    const ConvSpec& spec = st.conv->spec;
    const int64_t kh = w.dim(2), kw = w.dim(3), s = spec.stride, p = spec.pad, r = st.reflect;
    if (!spec.transposed) {
      // Output o reads padded rows o*s + t, t < k; padded row q is real row q - r - p.
      const Window need{win.y0 * s - p - r, (win.y1 - 1) * s + kh - p - r,
                        win.x0 * s - p - r, (win.x1 - 1) * s + kw - p - r};
      const Window have{std::max<int64_t>(0, need.y0), std::min(in[2], need.y1),
                        std::max<int64_t>(0, need.x0), std::min(in[3], need.x1)};
      Tensor x = j == first ? src_.read(have, ctx_) : eval(first, j - 1, have);
      // Rows missing at the map's border: the reflected ones next to the data, zeros beyond.
      const int64_t miss[4] = {have.y0 - need.y0, need.y1 - have.y1, have.x0 - need.x0,
                               need.x1 - have.x1};
      ops::Pad2d refl, zero;
      int* rp[4] = {&refl.top, &refl.bottom, &refl.left, &refl.right};
      int* zp[4] = {&zero.top, &zero.bottom, &zero.left, &zero.right};
      bool any_r = false, any_z = false;
      for (int k = 0; k < 4; ++k) {
        *rp[k] = static_cast<int>(std::min(miss[k], r));
        *zp[k] = static_cast<int>(miss[k] - *rp[k]);
        CGAN_CHECK(*zp[k] <= p, "tiled inference: window geometry");
        any_r |= *rp[k] > 0;
        any_z |= *zp[k] > 0;
      }
      if (any_r) {
        Tensor y = Tensor::empty({1, x.dim(1), x.dim(2) + refl.top + refl.bottom,
                                  x.dim(3) + refl.left + refl.right}, ctx_);
        ops::reflection_pad_forward(y, x, refl, ctx_);
        x = y;
      }
      if (any_z) {
        Tensor y = Tensor::empty({1, x.dim(1), x.dim(2) + zero.top + zero.bottom,
                                  x.dim(3) + zero.left + zero.right}, ctx_);
        ops::zero_pad_forward(y, x, zero, ctx_);
        x = y;
      }
      // Computed as the whole map's convolution is (the same algorithm; the same rounding where
      // OpenBLAS's products do not depend on the matrix shape, see conv_forward_window).
      const ConvSpec valid{static_cast<int>(s), 0, 0, false};
      Tensor out = Tensor::empty(conv_output_shape(x.shape(), w.shape(), valid), ctx_);
      conv_forward_window(out, x, w, bias(st), valid, {in[0], in[1], in[2] + 2 * r, in[3] + 2 * r},
                          spec, ctx_);
      CGAN_CHECK(out.dim(2) == win.h() && out.dim(3) == win.w(), "tiled inference: conv window");
      return out;
    }
    // Transposed: output o gets input i through tap t when o = i*s - p + t. Inputs outside
    // the map contribute nothing, so the window is simply clipped.
    const Window need{ceil_div(win.y0 + p - kh + 1, s), floor_div(win.y1 - 1 + p, s) + 1,
                      ceil_div(win.x0 + p - kw + 1, s), floor_div(win.x1 - 1 + p, s) + 1};
    const Window have{std::max<int64_t>(0, need.y0), std::min(in[2], need.y1),
                      std::max<int64_t>(0, need.x0), std::min(in[3], need.x1)};
    CGAN_CHECK(have.h() > 0 && have.w() > 0, "tiled inference: empty transposed-conv window");
    Tensor x = j == first ? src_.read(have, ctx_) : eval(first, j - 1, have);
    const ConvSpec full{static_cast<int>(s), 0, 0, true};
    Tensor y = Tensor::empty(conv_output_shape(x.shape(), w.shape(), full), ctx_);
    conv_forward_window(y, x, w, bias(st), full, in, spec, ctx_);
    // y's row u is output row have.y0*s - p + u.
    ops::Pad2d crop;
    crop.top = static_cast<int>(win.y0 - (have.y0 * s - p));
    crop.left = static_cast<int>(win.x0 - (have.x0 * s - p));
    crop.bottom = static_cast<int>(y.dim(2) - crop.top - win.h());
    crop.right = static_cast<int>(y.dim(3) - crop.left - win.w());
    CGAN_CHECK(crop.top >= 0 && crop.left >= 0 && crop.bottom >= 0 && crop.right >= 0,
               "tiled inference: transposed-conv window");
    Tensor out = Tensor::empty({1, y.dim(1), win.h(), win.w()}, ctx_);
    ops::zero_pad_backward(out, y, crop, ctx_);  // the adjoint of zero padding is the crop
    return out;
  }

  Tensor compute(size_t first, size_t last_conv, const Window& win) {
    if (last_conv + 1 == first) return src_.read(win, ctx_);  // no convolution in between
    return eval(first, last_conv, win);
  }

  // The pre-norm map of norm j, tile by tile, and its whole-map statistics; the source then
  // becomes that map normalized (or, when a later norm adds it, the normalized map stored).
  void normalize_pass(size_t first, size_t j) {
    const Step& st = steps_[j];
    const Shape& s = sizes_[j];
    const int64_t C = s[1];
    auto pre = std::make_shared<SpillMap>(C, s[2], s[3], dir_, spill_);
    std::vector<double> mean(static_cast<size_t>(C), 0.0), m2(static_cast<size_t>(C), 0.0);
    double count = 0;
    std::vector<double> tm, tq;
    for (const Window& win : grid(s)) {
      Tensor t = compute(first, j - 1, win);
      ops::plane_moments(tm, tq, t, ctx_);
      // Chan et al.: merge (count, mean, m2) of the tile into the running totals.
      const double n = double(win.h() * win.w()), tot = count + n;
      for (int64_t c = 0; c < C; ++c) {
        const size_t k = static_cast<size_t>(c);
        const double d = tm[k] - mean[k];
        mean[k] += d * n / tot;
        m2[k] += tq[k] + d * d * count * n / tot;
      }
      count = tot;
      pre->write(ctx_.is_cuda() ? t.to_cpu(ctx_) : t, win.y0, win.x0);
      tick();
    }
    ++passes_;
    std::vector<float> m(static_cast<size_t>(C)), r(static_cast<size_t>(C));
    for (size_t k = 0; k < m.size(); ++k) {  // as instance_norm_forward: float(mu), float(rstd)
      m[k] = static_cast<float>(mean[k]);
      r[k] = static_cast<float>(1.0 / std::sqrt(m2[k] / count + double(st.norm->eps)));
    }
    Source next;
    next.kind = Source::Kind::Normalized;
    next.map = pre;
    next.residual = st.add_residual ? kept_ : nullptr;
    next.mean = Tensor::from_vector({C}, m).to(ctx_);
    next.rstd = Tensor::from_vector({C}, r).to(ctx_);
    const bool affine = st.norm->scale >= 0;
    next.scale = affine ? &gen_.params()[st.norm->scale].value : nullptr;
    next.shift = affine ? &gen_.params()[st.norm->shift].value : nullptr;
    next.act = st.act;
    src_ = next;
    if (st.keep) {  // materialize it: a later norm adds this map
      auto kept = std::make_shared<SpillMap>(C, s[2], s[3], dir_, spill_);
      for (const Window& win : grid(s)) {
        Tensor t = src_.read(win, ctx_);
        kept->write(ctx_.is_cuda() ? t.to_cpu(ctx_) : t, win.y0, win.x0);
        tick();
      }
      ++passes_;
      Source stored;
      stored.kind = Source::Kind::Stored;
      stored.map = kept;
      src_ = stored;  // releases the pre-norm map and the previous kept one
      kept_ = kept;
    }
    ctx_.allocator().release_cached();  // tiles of the next pass have other sizes
  }

  Image output_pass(size_t first) {
    const Shape& s = sizes_.back();
    CGAN_CHECK(steps_.back().kind == Step::Kind::Tanh && steps_.size() >= 2,
               "tiled inference: the generator must end in tanh");
    const size_t last_conv = steps_.size() - 2;
    Image out(static_cast<int>(s[3]), static_cast<int>(s[2]));
    for (const Window& win : grid(s)) {
      Tensor t = compute(first, last_conv, win);
      ops::tanh_forward(t, t, ctx_);
      const std::vector<Image> tile = postprocess_images(t, order_, ctx_);
      for (int64_t y = 0; y < win.h(); ++y)
        std::copy(tile[0].at(0, static_cast<int>(y)),
                  tile[0].at(0, static_cast<int>(y)) + 3 * win.w(),
                  out.at(static_cast<int>(win.x0), static_cast<int>(win.y0 + y)));
      tick();
    }
    ++passes_;
    kept_.reset();
    src_ = Source{};
    ctx_.allocator().release_cached();
    return out;
  }

  Generator& gen_;
  const Image& image_;
  TiledOptions opt_;
  Context& ctx_;
  std::vector<Step> steps_;
  ChannelOrder order_;
  std::vector<Shape> sizes_;
  std::string dir_;
  SpillCounter spill_;
  Source src_;
  std::shared_ptr<SpillMap> kept_;
  int passes_ = 0;
  int64_t tiles_done_ = 0, total_tiles_ = 0;
};

}  // namespace

Image cartoonize_tiled(Generator& gen, const Image& image, ChannelOrder order,
                       const TiledOptions& opt, Context& ctx, TiledReport* report) {
  CGAN_CHECK(image.width > 0 && image.height > 0, "tiled inference: empty image");
  TiledRun run(gen, image, order, opt, ctx);
  return run.run(report);
}

void check_tiled_space(Generator& gen, int width, int height, const std::string& spill_dir) {
  check_space(tiled_spill_bytes(gen, width, height), resolve_dir(spill_dir), width, height);
}

uint64_t tiled_spill_bytes(Generator& gen, int width, int height) {
  Image probe;  // sizes only: the run is never started
  probe.width = width;
  probe.height = height;
  TiledOptions opt;
  return TiledRun(gen, probe, ChannelOrder::RGB, opt, gen.ctx()).spill_peak();
}

uint64_t tiled_working_bytes(int tile) {
  // Largest passes: 64-channel full-resolution maps around conv01 and deconv02_2 (the input
  // window, its padded copy, the output, host copies, the convolution's scratch). Measured
  // ~1.4 KB per tile pixel on the CPU (Cartoonizer::tiled_bytes); 2 KB leaves a margin.
  return uint64_t(2048) * uint64_t(tile) * uint64_t(tile);
}

}  // namespace cgan
