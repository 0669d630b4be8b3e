// What rlhf-bench knows about the machine and the reference: memory bandwidth, CPU name, the
// PyTorch reference script runner, and result printing.
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>

#include "bench.h"
#include "kernels/thread_pool.h"
#include "kernels/vec.h"

namespace rlhf::bench {

std::vector<BenchCase>& bench_registry() {
  static std::vector<BenchCase> r;
  return r;
}

bool BenchContext::wanted(const std::string& name) const {
  if (opts.filters.empty()) return true;
  for (const auto& f : opts.filters)
    if (name.find(f) != std::string::npos) return true;
  return false;
}

double measure_bandwidth_gbs(int threads) {
  const int64_t n = (int64_t(1) << 30) / sizeof(float);
  std::unique_ptr<float[]> buf(new float[n]);
  kernels::ThreadPool pool(threads);
  // Touch every page first (first-touch from the threads that will read it).
  pool.run(n, [&](int64_t a, int64_t b) { std::fill(buf.get() + a, buf.get() + b, 1.0f); });
  double best = 0;
  std::mutex mu;
  double total = 0;  // consumed below, so the reads cannot be optimised away
  for (int rep = 0; rep < 4; ++rep) {
    total = 0;
    auto t0 = std::chrono::steady_clock::now();
    pool.run(n, [&](int64_t a, int64_t b) {
      float s = kernels::sum(buf.get() + a, b - a);
      std::lock_guard<std::mutex> lock(mu);
      total += s;
    });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, n * sizeof(float) / s / 1e9);
  }
  if (total != static_cast<double>(n)) std::cerr << "note: bandwidth buffer sum is off (" << total << ")\n";
  return best;
}

std::string cpu_model_name() {
  FILE* p = popen("lscpu 2>/dev/null", "r");
  if (!p) return "unknown";
  char line[512];
  std::string name = "unknown";
  while (fgets(line, sizeof line, p)) {
    std::string s(line);
    if (s.rfind("Model name:", 0) == 0) {
      name = s.substr(11);
      name.erase(0, name.find_first_not_of(" \t"));
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      break;
    }
  }
  pclose(p);
  return name;
}

double BenchContext::reference_tokens_per_s(const std::string& args) const {
  if (!opts.reference) return 0;
  // The reference re-execs itself with its own tuned environment; start it from ours minus
  // our preload so both sides choose their own settings.
  std::string cmd = "env -u LD_PRELOAD -u RLHF_REF_TUNED /usr/bin/python3 '" + opts.reference_script + "' " + args +
                    (opts.quick ? " --repeats 1" : "") + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 0;
  std::string out;
  char buf[4096];
  while (size_t k = fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  int rc = pclose(p);
  std::string last;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') last = line;
  try {
    if (rc == 0 && !last.empty()) return nlohmann::json::parse(last).at("tokens_per_s").get<double>();
  } catch (const std::exception&) {
  }
  std::cerr << "note: reference run failed (" << cmd << ")\n";
  return 0;
}

void BenchContext::report(const BenchResult& r) const {
  const double ratio = r.reference > 0 ? r.ours / r.reference : 0;
  if (opts.json) {
    nlohmann::json j = {{"case", r.name}, {"ours", r.ours}, {"reference", r.reference},
                        {"ratio", r.reference > 0 ? nlohmann::json(ratio) : nlohmann::json(nullptr)}};
    for (auto& [k, v] : r.extra.items()) j[k] = v;
    std::cout << j.dump() << std::endl;
    return;
  }
  std::ostringstream s;
  s << std::left << std::setw(30) << r.name << std::right << std::fixed << std::setprecision(1) << std::setw(11)
    << r.ours << std::setw(11);
  if (r.reference > 0)
    s << r.reference << std::setw(8) << std::setprecision(2) << ratio << "x";
  else
    s << "-" << std::setw(9) << "-";
  if (r.extra.contains("bound_tokens_per_s"))
    s << std::setw(11) << std::setprecision(1) << r.extra["bound_tokens_per_s"].get<double>();
  std::cout << s.str() << std::endl;
}

}  // namespace rlhf::bench
