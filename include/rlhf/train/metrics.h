// Training telemetry: metrics.jsonl (one JSON object per step, appended and flushed line by line)
// and the terminal progress line (live, redrawn in place on a terminal; plain periodic lines
// when stdout is a file or a pipe).
#pragma once
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace rlhf {

class MetricsWriter {
 public:
  // Opens RUN/metrics.jsonl for appending. With resume_step >= 0, lines of steps after
  // resume_step (written by an interrupted process after its last checkpoint) are dropped first,
  // so the file reads as one uninterrupted run.
  explicit MetricsWriter(const std::string& path, int64_t resume_step = -1);
  void write(const nlohmann::json& record);  // one line, flushed
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

class Progress {
 public:
  // total: steps in the run; log_every: plain-line period when not a terminal. tty < 0 = detect
  // (isatty(stdout)); 0/1 force the mode (tests).
  Progress(std::string label, int64_t total, int64_t log_every, int tty = -1);
  // Called after each step. eta is estimated from the rate of this process's steps.
  void update(int64_t step, double loss, double tokens_per_s, double elapsed_s, double step_rate);
  void note(const std::string& line);  // a message that must not be overwritten by the live line
  void finish();
  bool is_tty() const { return tty_; }
  static std::string format_duration(double seconds);  // "1:05", "1:02:03"

 private:
  std::string label_;
  int64_t total_, log_every_;
  bool tty_;
  bool live_ = false;  // a live line is on screen (needs a newline before other output)
};

}  // namespace rlhf
