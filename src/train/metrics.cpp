// metrics.jsonl writer and the progress line.
#include "rlhf/train/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <vector>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"

namespace rlhf {

MetricsWriter::MetricsWriter(const std::string& path, int64_t resume_step) : path_(path) {
  if (resume_step >= 0 && io::file_exists(path)) {
    std::istringstream in(io::read_file(path));
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;  // a line cut by a crash
      if (j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() > resume_step) continue;
      kept += line + "\n";
    }
    io::write_file_atomic(path, kept);
  } else if (resume_step < 0 && io::file_exists(path)) {
    io::write_file_atomic(path, "");  // a fresh run starts a fresh file
  }
  out_.open(path, std::ios::app);
  if (!out_) throw Error(path + ": cannot open for appending");
}

void MetricsWriter::write(const nlohmann::json& record) {
  out_ << record.dump() << "\n";
  out_.flush();
}

Progress::Progress(std::string label, int64_t total, int64_t log_every, int tty)
    : label_(std::move(label)), total_(total), log_every_(log_every), tty_(tty < 0 ? ::isatty(1) == 1 : tty == 1) {}

std::string Progress::format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  long t = static_cast<long>(std::lround(s));
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

void Progress::update(int64_t step, double loss, double tokens_per_s, double elapsed_s, double step_rate) {
  bool last = step >= total_;
  if (!tty_ && !(step % log_every_ == 0 || last || step == 1)) return;
  double eta = step_rate > 0 ? static_cast<double>(total_ - step) / step_rate : NAN;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s step %lld/%lld  loss %.4f  %.0f tok/s  elapsed %s  ETA %s", label_.c_str(),
                static_cast<long long>(step), static_cast<long long>(total_), loss, tokens_per_s,
                format_duration(elapsed_s).c_str(), format_duration(eta).c_str());
  if (tty_) {
    std::cout << "\r\033[K" << buf << std::flush;
    live_ = true;
    if (last) finish();
  } else {
    std::cout << buf << "\n" << std::flush;
  }
}

void Progress::note(const std::string& line) {
  if (live_) std::cout << "\n";
  live_ = false;
  std::cout << line << "\n" << std::flush;
}

void Progress::finish() {
  if (live_) std::cout << "\n" << std::flush;
  live_ = false;
}

}  // namespace rlhf
