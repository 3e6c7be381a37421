#include "cgan/smooth.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "cgan/profile.hpp"
#include "cuda_check.hpp"
#include "kernels/smooth.hpp"
#include "kernels/smooth_math.hpp"

namespace cgan {

namespace {

// Device scratch from the context's stream-ordered caching allocator, returned on scope exit.
class DeviceBuffer {
 public:
  DeviceBuffer(Context& ctx, size_t bytes)
      : alloc_(ctx.allocator_ptr()), p_(bytes ? alloc_->allocate(bytes) : nullptr) {}
  ~DeviceBuffer() {
    if (p_) alloc_->deallocate(p_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* get() const { return static_cast<T*>(p_); }

 private:
  std::shared_ptr<Allocator> alloc_;
  void* p_;
};

void check_image(const Image& im, size_t i, const char* fn) {
  CGAN_CHECK(im.width > 0 && im.height > 0,
             fn << ": image " << i << " is empty (" << im.width << "x" << im.height << ")");
  CGAN_CHECK(im.pixels.size() == static_cast<size_t>(im.width) * im.height * 3,
             fn << ": image " << i << " (" << im.width << "x" << im.height << ") holds "
                << im.pixels.size() << " bytes, expected "
                << static_cast<size_t>(im.width) * im.height * 3);
}

// The whole CUDA pipeline on n same-size images already on the device. Any output may be null.
void run_cuda_pipeline(uint8_t* out, uint8_t* edges, uint8_t* dilated, const uint8_t* src,
                       const U8ImageLayout& layout, int n, int h, int w,
                       const SmoothOptions& opt, Context& ctx) {
  const smooth::CannyThresholds t =
      smooth::canny_int_thresholds(opt.canny_low, opt.canny_high, opt.canny_l2_gradient);
  const size_t plane = static_cast<size_t>(n) * h * w;
  DeviceBuffer state(ctx, plane);
  DeviceBuffer flags(ctx, sizeof(int) * kernels::smooth_hysteresis_flag_count());
  DeviceBuffer own_mask(ctx, dilated ? 0 : plane);
  uint8_t* mask = dilated ? dilated : own_mask.get<uint8_t>();
  const Stream s = ctx.stream();
  kernels::smooth_canny_nms(state.get<uint8_t>(), src, layout, n, h, w, t.low, t.high,
                            opt.canny_l2_gradient, s);
  kernels::smooth_hysteresis(state.get<uint8_t>(), flags.get<int>(), n, h, w, s);
  kernels::smooth_dilate(edges, mask, state.get<uint8_t>(), n, h, w, opt.dilate_size, s);
  if (out)
    kernels::smooth_masked_blur(out, src, mask, layout, n, h, w, opt.blur, opt.blur_size, s);
}

// Images of one size, processed on CUDA in batches. Writes whichever outputs are non-null.
void cuda_images(std::vector<Image>* out, std::vector<EdgeMaps>* maps,
                 const std::vector<Image>& in, const std::vector<size_t>& idx,
                 const SmoothOptions& opt, Context& ctx) {
  const int h = in[idx[0]].height, w = in[idx[0]].width;
  const size_t bytes = static_cast<size_t>(h) * w * 3, plane = static_cast<size_t>(h) * w;
  // Bounded batches keep scratch memory modest and the grid's z dimension legal.
  const size_t per_batch =
      std::max<size_t>(1, std::min<size_t>(4096, (size_t(1) << 30) / (bytes * 2 + plane * 4)));
  const cudaStream_t s = ctx.stream();
  for (size_t b0 = 0; b0 < idx.size(); b0 += per_batch) {
    const int n = static_cast<int>(std::min(per_batch, idx.size() - b0));
    DeviceBuffer src(ctx, bytes * n);
    DeviceBuffer dst(ctx, out ? bytes * n : 0);
    DeviceBuffer edges(ctx, maps ? plane * n : 0);
    DeviceBuffer dilated(ctx, maps ? plane * n : 0);
    for (int i = 0; i < n; ++i)
      CGAN_CUDA_CHECK(cudaMemcpyAsync(src.get<uint8_t>() + bytes * i,
                                      in[idx[b0 + i]].pixels.data(), bytes,
                                      cudaMemcpyHostToDevice, s));
    const U8ImageLayout layout{static_cast<int64_t>(bytes), 3, 1, 0};
    run_cuda_pipeline(dst.get<uint8_t>(), edges.get<uint8_t>(), dilated.get<uint8_t>(),
                      src.get<uint8_t>(), layout, n, h, w, opt, ctx);
    for (int i = 0; i < n; ++i) {
      const size_t k = idx[b0 + i];
      if (out) {
        (*out)[k] = Image(w, h);
        CGAN_CUDA_CHECK(cudaMemcpyAsync((*out)[k].pixels.data(), dst.get<uint8_t>() + bytes * i,
                                        bytes, cudaMemcpyDeviceToHost, s));
      }
      if (maps) {
        EdgeMaps& m = (*maps)[k];
        m.width = w;
        m.height = h;
        m.edges.resize(plane);
        m.dilated.resize(plane);
        CGAN_CUDA_CHECK(cudaMemcpyAsync(m.edges.data(), edges.get<uint8_t>() + plane * i, plane,
                                        cudaMemcpyDeviceToHost, s));
        CGAN_CUDA_CHECK(cudaMemcpyAsync(m.dilated.data(), dilated.get<uint8_t>() + plane * i,
                                        plane, cudaMemcpyDeviceToHost, s));
      }
    }
    CGAN_CUDA_CHECK(cudaStreamSynchronize(s));
  }
}

void process(std::vector<Image>* out, std::vector<EdgeMaps>* maps, const std::vector<Image>& in,
             const SmoothOptions& opt, Context& ctx, const char* fn) {
  validate_smooth_options(opt);
  for (size_t i = 0; i < in.size(); ++i) check_image(in[i], i, fn);
  if (out) out->assign(in.size(), Image());
  if (maps) maps->assign(in.size(), EdgeMaps());
  if (!ctx.is_cuda()) {
    for (size_t i = 0; i < in.size(); ++i) {
      const Image& im = in[i];
      uint8_t* o = nullptr;
      uint8_t *e = nullptr, *d = nullptr;
      if (out) {
        (*out)[i] = Image(im.width, im.height);
        o = (*out)[i].pixels.data();
      }
      if (maps) {
        EdgeMaps& m = (*maps)[i];
        m.width = im.width;
        m.height = im.height;
        m.edges.resize(static_cast<size_t>(im.width) * im.height);
        m.dilated.resize(m.edges.size());
        e = m.edges.data();
        d = m.dilated.data();
      }
      cpu::edge_smooth_u8(o, e, d, im.pixels.data(), im.height, im.width, 0, opt);
    }
    return;
  }
  CGAN_CUDA_CHECK(cudaSetDevice(ctx.device().index));
  std::map<std::pair<int, int>, std::vector<size_t>> by_size;  // one batch per size
  for (size_t i = 0; i < in.size(); ++i) by_size[{in[i].width, in[i].height}].push_back(i);
  for (const auto& group : by_size) cuda_images(out, maps, in, group.second, opt, ctx);
}

}  // namespace

void validate_smooth_options(const SmoothOptions& opt) {
  // The option names in parentheses are cgan_smooth's flags.
  CGAN_CHECK(opt.canny_low >= 0 && opt.canny_high >= 0,
             "SmoothOptions: Canny thresholds (--canny-low, --canny-high) must be >= 0, got "
                 << opt.canny_low << " and " << opt.canny_high);
  CGAN_CHECK(opt.canny_low < 1e9 && opt.canny_high < 1e9,
             "SmoothOptions: Canny thresholds (--canny-low, --canny-high) must be finite and "
             "< 1e9");
  CGAN_CHECK(opt.canny_aperture == 3,
             "SmoothOptions: canny_aperture must be 3 (the only Sobel size implemented), got "
                 << opt.canny_aperture);
  CGAN_CHECK(opt.dilate_size >= 1 && opt.dilate_size <= 31 && opt.dilate_size % 2 == 1,
             "SmoothOptions: dilate_size (--dilate) must be odd in 1..31, got "
                 << opt.dilate_size);
  if (opt.blur == SmoothBlur::Gaussian)
    CGAN_CHECK(opt.blur_size == 1 || opt.blur_size == 3 || opt.blur_size == 5 ||
                   opt.blur_size == 7,
               "SmoothOptions: Gaussian blur_size (--blur-size) must be 1, 3, 5 or 7 (OpenCV's "
               "exact kernels; --blur box takes odd sizes up to 15), got "
                   << opt.blur_size);
  else if (opt.blur == SmoothBlur::Box)
    CGAN_CHECK(opt.blur_size >= 1 && opt.blur_size <= 15 && opt.blur_size % 2 == 1,
               "SmoothOptions: box blur_size (--blur-size) must be odd in 1..15, got "
                   << opt.blur_size);
  else
    CGAN_FAIL("SmoothOptions: unknown blur kind " << static_cast<int>(opt.blur));
}

void edge_smooth(std::vector<Image>& out, const std::vector<Image>& in, const SmoothOptions& opt,
                 Context& ctx) {
  // Built aside so that `out` may alias `in` and stays untouched on error.
  std::vector<Image> result;
  process(&result, nullptr, in, opt, ctx, "edge_smooth");
  out = std::move(result);
}

Image edge_smooth(const Image& in, const SmoothOptions& opt, Context& ctx) {
  std::vector<Image> out;
  edge_smooth(out, std::vector<Image>{in}, opt, ctx);
  return std::move(out[0]);
}

std::vector<EdgeMaps> edge_maps(const std::vector<Image>& in, const SmoothOptions& opt,
                                Context& ctx) {
  std::vector<EdgeMaps> maps;
  process(nullptr, &maps, in, opt, ctx, "edge_maps");
  return maps;
}

void edge_smooth_batch(Tensor& out, const Tensor& in, const SmoothOptions& opt, Context& ctx,
                       ChannelOrder order) {
  validate_smooth_options(opt);
  CGAN_CHECK(in.defined(), "edge_smooth_batch: input tensor is undefined");
  CGAN_CHECK(in.ndim() == 4 && in.dim(1) == 3,
             "edge_smooth_batch: input must be [N,3,H,W], got " << in.str());
  CGAN_CHECK(in.dtype() == DType::F32, "edge_smooth_batch: input must be f32, got " << in.str());
  CGAN_CHECK(in.device() == ctx.device(), "edge_smooth_batch: input " << in.str()
                                                                       << " is not on the context's device "
                                                                       << ctx.device().str());
  const int64_t n = in.dim(0), h = in.dim(2), w = in.dim(3);
  CGAN_CHECK(h > 0 && w > 0 && h <= (1 << 20) && w <= (1 << 20),
             "edge_smooth_batch: image size " << h << "x" << w << " is not supported");
  if (!out.defined() || out.shape() != in.shape() || out.dtype() != DType::F32 ||
      out.device() != ctx.device())
    out = Tensor::empty(in.shape(), ctx);
  if (n == 0) return;

  ProfileScope prof(ctx, "smooth");
  if (!ctx.is_cuda()) {
    // Images are RGB whatever the tensor's order; the conversion puts channels in place.
    const std::vector<Image> images = tensor_to_images(in, order, ctx);
    std::vector<Image> smoothed;
    edge_smooth(smoothed, images, opt, ctx);
    out.copy_from(images_to_tensor(smoothed, order, ctx), ctx);
    return;
  }
  CGAN_CUDA_CHECK(cudaSetDevice(ctx.device().index));
  const int64_t count = in.numel();
  const int64_t per_image = 3 * h * w;
  const int64_t per_batch = std::max<int64_t>(
      1, std::min<int64_t>(4096, (int64_t(1) << 30) / (per_image * 2 + h * w * 2)));
  DeviceBuffer u8_in(ctx, static_cast<size_t>(count));
  DeviceBuffer u8_out(ctx, static_cast<size_t>(count));
  kernels::smooth_f32_to_u8(u8_in.get<uint8_t>(), in.f32(), count, ctx.stream());
  const U8ImageLayout layout{per_image, 1, h * w, order == ChannelOrder::RGB ? 0 : 2};
  for (int64_t b0 = 0; b0 < n; b0 += per_batch) {
    const int nb = static_cast<int>(std::min(per_batch, n - b0));
    run_cuda_pipeline(u8_out.get<uint8_t>() + b0 * per_image, nullptr, nullptr,
                      u8_in.get<uint8_t>() + b0 * per_image, layout, nb, static_cast<int>(h),
                      static_cast<int>(w), opt, ctx);
  }
  kernels::smooth_u8_to_f32(out.f32(), u8_out.get<uint8_t>(), count, ctx.stream());
}

Image resize_cv_linear(const Image& in, int width, int height) {
  check_image(in, 0, "resize_cv_linear");
  CGAN_CHECK(width > 0 && height > 0,
             "resize_cv_linear: target size must be positive, got " << width << "x" << height);
  const cv::Mat src(in.height, in.width, CV_8UC3, const_cast<uint8_t*>(in.pixels.data()));
  Image out(width, height);
  cv::Mat dst(height, width, CV_8UC3, out.pixels.data());
  cv::resize(src, dst, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  CGAN_CHECK(dst.data == out.pixels.data(), "resize_cv_linear: OpenCV reallocated the output");
  return out;
}

Image side_by_side(const Image& left, const Image& right) {
  CGAN_CHECK(left.height == right.height,
             "side_by_side: heights differ (" << left.height << " vs " << right.height << ")");
  Image out(left.width + right.width, left.height);
  const size_t lrow = static_cast<size_t>(left.width) * 3, rrow = static_cast<size_t>(right.width) * 3;
  for (int y = 0; y < left.height; ++y) {
    uint8_t* o = out.pixels.data() + y * (lrow + rrow);
    std::memcpy(o, left.pixels.data() + y * lrow, lrow);
    std::memcpy(o + lrow, right.pixels.data() + y * rrow, rrow);
  }
  return out;
}

}  // namespace cgan
