#pragma once
// Video files in and out, frame by frame, through OpenCV's videoio (FFmpeg on Debian):
// .mp4 .m4v .mov .mkv .avi .webm. Frames are cgan::Image (RGB). Audio is not read or written.
#include <cstdint>
#include <memory>
#include <string>

#include "cgan/image.hpp"

namespace cgan {

// By extension (case-insensitive).
bool is_video_path(const std::string& path);

struct VideoInfo {
  int width = 0, height = 0;
  double fps = 0;
  int64_t frame_count = -1;  // what the container claims (may be absent: -1, or approximate)
  std::string codec;         // FOURCC of the video stream, e.g. "h264"
};

class VideoReader {
 public:
  // Throws cgan::Error naming the file when it is missing or is not a decodable video.
  explicit VideoReader(const std::string& path);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const { return info_; }
  // The next frame (RGB); false at the end of the stream. Throws if a frame changes size.
  bool read(Image& frame);
  int64_t frames_read() const { return read_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  VideoInfo info_;
  int64_t read_ = 0;
};

class VideoWriter {
 public:
  // Frames go to a temporary file beside `path` ("<path>.tmp-<pid>.<ext>"); commit() renames it
  // to `path`. Destroyed without commit() (an error, an interrupt): the temporary is removed, so
  // a partly written video never appears under the final name. fourcc empty: default_fourcc().
  VideoWriter(const std::string& path, double fps, int width, int height,
              const std::string& fourcc = "");
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  void write(const Image& frame);  // width x height RGB
  void commit();
  int64_t frames_written() const { return written_; }
  const std::string& fourcc() const { return fourcc_; }

  // H.264 ("avc1") for .mp4/.m4v/.mov/.mkv, Motion-JPEG for .avi, VP8 for .webm. "FFV1" is
  // lossless (.mkv, .avi).
  static std::string default_fourcc(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, tmp_, fourcc_;
  int width_, height_;
  int64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace cgan
