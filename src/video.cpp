#include "cgan/video.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "cgan/error.hpp"

namespace cgan {

namespace {
std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}
std::string fourcc_str(double v) {
  const int f = static_cast<int>(v);
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((f >> (8 * i)) & 0xFF);
    if (std::isprint(static_cast<unsigned char>(c))) s += c;
  }
  return s;
}
}  // namespace

bool is_video_path(const std::string& path) {
  const std::string e = lower_ext(path);
  return e == ".mp4" || e == ".m4v" || e == ".mov" || e == ".mkv" || e == ".avi" || e == ".webm";
}

struct VideoReader::Impl {
  cv::VideoCapture cap;
  cv::Mat bgr, rgb;
};

VideoReader::VideoReader(const std::string& path) : impl_(std::make_unique<Impl>()), path_(path) {
  std::error_code ec;
  CGAN_CHECK(std::filesystem::is_regular_file(path, ec), path << ": no such video file");
  CGAN_CHECK(::access(path.c_str(), R_OK) == 0, path << ": cannot read (permission denied)");
  impl_->cap.open(path, cv::CAP_FFMPEG);
  CGAN_CHECK(impl_->cap.isOpened(),
             path << ": not a video that FFmpeg (OpenCV videoio) can open: damaged, truncated or "
                     "an unsupported format");
  info_.width = static_cast<int>(impl_->cap.get(cv::CAP_PROP_FRAME_WIDTH));
  info_.height = static_cast<int>(impl_->cap.get(cv::CAP_PROP_FRAME_HEIGHT));
  info_.fps = impl_->cap.get(cv::CAP_PROP_FPS);
  const double n = impl_->cap.get(cv::CAP_PROP_FRAME_COUNT);
  info_.frame_count = n > 0 ? static_cast<int64_t>(n + 0.5) : -1;
  info_.codec = fourcc_str(impl_->cap.get(cv::CAP_PROP_FOURCC));
  CGAN_CHECK(info_.width > 0 && info_.height > 0,
             path << ": the video stream has no frame size (" << info_.width << "x"
                  << info_.height << "): damaged or not a video");
  CGAN_CHECK(info_.fps > 0 && info_.fps < 1000,
             path << ": the video reports " << info_.fps << " frames/s: damaged or not a video");
}

VideoReader::~VideoReader() = default;

bool VideoReader::read(Image& frame) {
  if (!impl_->cap.read(impl_->bgr) || impl_->bgr.empty()) {
    CGAN_CHECK(read_ > 0, path_ << ": no frame could be decoded (damaged or truncated video)");
    return false;
  }
  cv::Mat& m = impl_->bgr;
  CGAN_CHECK(m.cols == info_.width && m.rows == info_.height,
             path_ << ": frame " << read_ << " is " << m.cols << "x" << m.rows << ", the stream "
                   << info_.width << "x" << info_.height << " (size changes are not supported)");
  if (m.channels() == 1) cv::cvtColor(m, impl_->rgb, cv::COLOR_GRAY2RGB);
  else cv::cvtColor(m, impl_->rgb, cv::COLOR_BGR2RGB);
  if (frame.width != m.cols || frame.height != m.rows) frame = Image(m.cols, m.rows);
  const cv::Mat& r = impl_->rgb;
  for (int y = 0; y < r.rows; ++y) std::copy(r.ptr<uint8_t>(y), r.ptr<uint8_t>(y) + 3 * r.cols, frame.at(0, y));
  ++read_;
  return true;
}

struct VideoWriter::Impl {
  cv::VideoWriter w;
  cv::Mat bgr;
};

std::string VideoWriter::default_fourcc(const std::string& path) {
  const std::string e = lower_ext(path);
  if (e == ".avi") return "MJPG";
  if (e == ".webm") return "VP80";
  return "avc1";
}

VideoWriter::VideoWriter(const std::string& path, double fps, int width, int height,
                         const std::string& fourcc)
    : impl_(std::make_unique<Impl>()), path_(path), width_(width), height_(height) {
  CGAN_CHECK(is_video_path(path), path << ": not a video file name (.mp4 .m4v .mov .mkv .avi .webm)");
  fourcc_ = fourcc.empty() ? default_fourcc(path) : fourcc;
  CGAN_CHECK(fourcc_.size() == 4, "video codec '" << fourcc_ << "' is not a FOURCC (4 characters)");
  // 4:2:0 codecs need even sides; every generator output is a multiple of 4 anyway.
  CGAN_CHECK(width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0,
             path << ": video frames must have even sides, got " << width << "x" << height);
  tmp_ = path + ".tmp-" + std::to_string(::getpid()) + lower_ext(path);
  const int cc = cv::VideoWriter::fourcc(fourcc_[0], fourcc_[1], fourcc_[2], fourcc_[3]);
  impl_->w.open(tmp_, cv::CAP_FFMPEG, cc, fps, cv::Size(width, height), true);
  if (!impl_->w.isOpened()) {
    std::remove(tmp_.c_str());
    CGAN_FAIL(path << ": cannot write a video with codec '" << fourcc_
                   << "' there (unwritable folder, or a codec this FFmpeg lacks: try --codec "
                      "FFV1 with .mkv, or MJPG with .avi)");
  }
}

VideoWriter::~VideoWriter() {
  if (committed_) return;
  impl_->w.release();
  std::remove(tmp_.c_str());
}

void VideoWriter::write(const Image& frame) {
  CGAN_CHECK(frame.width == width_ && frame.height == height_,
             path_ << ": frame is " << frame.width << "x" << frame.height << ", the video "
                   << width_ << "x" << height_);
  const cv::Mat rgb(frame.height, frame.width, CV_8UC3, const_cast<uint8_t*>(frame.pixels.data()));
  cv::cvtColor(rgb, impl_->bgr, cv::COLOR_RGB2BGR);
  impl_->w.write(impl_->bgr);
  ++written_;
}

void VideoWriter::commit() {
  impl_->w.release();
  std::error_code ec;
  const auto size = std::filesystem::file_size(tmp_, ec);
  CGAN_CHECK(!ec && size > 0, path_ << ": the encoder wrote nothing (disk full?)");
  std::filesystem::rename(tmp_, path_, ec);
  CGAN_CHECK(!ec, path_ << ": cannot rename the finished video into place: " << ec.message());
  committed_ = true;
}

}  // namespace cgan
