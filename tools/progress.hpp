#pragma once
// A one-line progress display for long jobs: done / total, rate, ETA, redrawn in place on a
// terminal (stderr) at most a few times a second; silent when stderr is not a terminal or when
// disabled, so logs and pipes get only the closing summary.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>

namespace cgan_tools {

inline std::string fmt_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = static_cast<long>(s + 0.5);
  char b[32];
  if (t >= 3600) std::snprintf(b, sizeof b, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) std::snprintf(b, sizeof b, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(b, sizeof b, "%lds", t);
  return b;
}

class Progress {
 public:
  explicit Progress(bool enabled) : on_(enabled && isatty(STDERR_FILENO) != 0) {}
  ~Progress() { finish(); }
  bool enabled() const { return on_; }

  // What is being counted ("images", "frames") and how many in all (<= 0: unknown).
  void start(const std::string& what, int64_t total, const std::string& label = "") {
    std::lock_guard<std::mutex> lock(mu_);
    what_ = what;
    label_ = label;
    total_ = total;
    done_ = 0;
    t0_ = now();
    last_ = -1;
    sub_.clear();
    sub_what_.clear();
  }
  void set_total(int64_t total) {
    std::lock_guard<std::mutex> lock(mu_);
    total_ = total;
  }
  void add(int64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    done_ += n;
    sub_.clear();
    draw(total_ > 0 && done_ >= total_);  // the last count always shows
  }
  // Progress inside the current item (e.g. the tiles of one large image), with its own ETA.
  void sub(const std::string& what, int64_t done, int64_t total) {
    std::lock_guard<std::mutex> lock(mu_);
    const double t = now();
    if (done <= 1 || what != sub_what_) sub_t0_ = t;
    sub_what_ = what;
    std::ostringstream s;
    s << what << " " << done << "/" << total;
    if (done > 0 && total > done && t > sub_t0_)
      s << ", ETA " << fmt_duration((t - sub_t0_) / double(done) * double(total - done));
    sub_ = s.str();
    draw(false);
  }
  void finish() {
    std::lock_guard<std::mutex> lock(mu_);
    if (on_ && drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }

 private:
  static double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void draw(bool force) {
    if (!on_) return;
    const double t = now();
    if (!force && t - last_ < 0.2) return;
    last_ = t;
    const double el = t - t0_, rate = el > 0 ? done_ / el : 0;
    std::ostringstream s;
    if (!label_.empty()) s << label_ << ": ";
    s << what_ << " " << done_;
    if (total_ > 0) s << "/" << total_;
    s.setf(std::ios::fixed);
    s.precision(rate < 10 ? 2 : 1);
    s << "  " << rate << " " << what_ << "/s";
    if (total_ > 0 && rate > 0) s << "  ETA " << fmt_duration(double(total_ - done_) / rate);
    if (!sub_.empty()) s << "  (" << sub_ << ")";
    std::cerr << "\r" << s.str() << "\033[K" << std::flush;
    drawn_ = true;
  }

  bool on_;
  std::mutex mu_;
  std::string what_, label_, sub_, sub_what_;
  double sub_t0_ = 0;
  int64_t total_ = 0, done_ = 0;
  double t0_ = 0, last_ = -1;
  bool drawn_ = false;
};

}  // namespace cgan_tools
