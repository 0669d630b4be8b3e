// What rlhf-bench knows about the machine and the reference: memory bandwidth, CPU name, the
// PyTorch reference script runner, and result printing.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <fstream>
#include <functional>
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

namespace {
// Sums n floats (n a multiple of 128) with eight independent 512-bit accumulators, so the loads,
// not the add latency, set the pace.
#pragma GCC push_options
#pragma GCC target("avx512f")
float read_sum_512(const float* p, int64_t n) {
  __m512 a[8];
  for (auto& v : a) v = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 128)
    for (int u = 0; u < 8; ++u) a[u] = _mm512_add_ps(a[u], _mm512_loadu_ps(p + i + 16 * u));
  for (int u = 1; u < 8; ++u) a[0] = _mm512_add_ps(a[0], a[u]);
  return _mm512_reduce_add_ps(a[0]);
}
#pragma GCC pop_options

float read_sum(const float* p, int64_t n) {
  if (kernels::has_avx512()) return read_sum_512(p, n);
  float a[8] = {};
  for (int64_t i = 0; i < n; i += 8)
    for (int u = 0; u < 8; ++u) a[u] += p[i + u];
  return a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
}
}  // namespace

double measure_bandwidth_gbs(int threads) {
  // 1 GiB, far beyond any cache; each thread reads one contiguous half (first-touched by itself),
  // in blocks of 128 floats with wide loads.
  constexpr int64_t kBlock = 128;
  const int64_t blocks = (int64_t(1) << 30) / sizeof(float) / kBlock, n = blocks * kBlock;
  std::unique_ptr<float[]> buf(new float[n]);
  kernels::ThreadPool pool(threads);
  auto split = [&](const std::function<void(int64_t, int64_t)>& fn) {
    // One contiguous share per thread (the pool's chunks are whole blocks).
    pool.run(threads, [&](int64_t t0, int64_t t1) { fn(blocks * t0 / threads * kBlock, blocks * t1 / threads * kBlock); });
  };
  split([&](int64_t a, int64_t b) { std::fill(buf.get() + a, buf.get() + b, 1.0f); });
  double best = 0;
  std::mutex mu;
  double total = 0;  // consumed below, so the reads cannot be optimised away
  for (int rep = 0; rep < 5; ++rep) {
    total = 0;
    auto t0 = std::chrono::steady_clock::now();
    split([&](int64_t a, int64_t b) {
      float s = 0;
      for (int64_t i = a; i < b; i += int64_t(1) << 20) s += read_sum(buf.get() + i, std::min<int64_t>(b - i, int64_t(1) << 20));
      std::lock_guard<std::mutex> lock(mu);
      total += s;
    });
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, n * sizeof(float) / s / 1e9);
  }
  if (total != static_cast<double>(n)) std::cerr << "note: bandwidth buffer sum is off (" << total << ")\n";
  return best;
}

int64_t l3_cache_bytes() {
  // Largest cache level's size from sysfs ("32768K"), 0 when unknown.
  int64_t best = 0;
  for (int i = 0; i < 8; ++i) {
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    std::string v;
    if (!(f >> v) || v.empty()) continue;
    int64_t mult = 1;
    if (v.back() == 'K') mult = 1024;
    if (v.back() == 'M') mult = 1024 * 1024;
    if (mult != 1) v.pop_back();
    try {
      best = std::max<int64_t>(best, std::stoll(v) * mult);
    } catch (const std::exception&) {
    }
  }
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
  if (r.extra.contains("bound_applies") && !r.extra["bound_applies"].get<bool>())
    s << std::setw(11) << "in-cache";  // weights fit in the last-level cache: no DRAM bound
  else if (r.extra.contains("bound_tokens_per_s"))
    s << std::setw(11) << std::setprecision(1) << r.extra["bound_tokens_per_s"].get<double>();
  std::cout << s.str() << std::endl;
}

}  // namespace rlhf::bench
