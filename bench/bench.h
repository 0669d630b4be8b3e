// rlhf-bench: the case registry and what every case shares (options, the machine's figures,
// the PyTorch reference runner, result printing). A case is one file registering itself with
// RegisterBench, so `train` and `ppo` cases add files, not edits.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/model/config.h"

namespace rlhf::bench {

// The model shapes of torch_reference.py's SHAPES (GPT-2 layout), shared by every case.
struct ModelShape {
  const char* name;
  int64_t n_layer, n_head, d_model, vocab, ctx;
};
inline constexpr ModelShape kModelShapes[] = {{"tiny", 4, 4, 256, 8192, 256}, {"gpt2-small", 12, 12, 768, 50257, 1024}};

// A GPT-2-layout ModelConfig of that shape.
inline ModelConfig model_config(const ModelShape& s) {
  ModelConfig cfg;
  cfg.arch = "gpt2";
  cfg.n_layer = s.n_layer;
  cfg.n_head = s.n_head;
  cfg.d_model = s.d_model;
  cfg.vocab_size = s.vocab;
  cfg.max_seq = s.ctx;
  return cfg;
}

struct BenchOptions {
  bool quick = false;            // fewer repeats, shorter warm-up
  bool json = false;             // one JSON object per result line instead of a table
  int threads = 0;               // our side's threads; 0 = all cores
  std::vector<std::string> filters;  // only sub-cases whose name contains one of these
  bool reference = true;         // run the PyTorch reference beside ours
  bool replay = true;            // ppo: replay the first step's policy forward from generation
  std::string reference_script;  // path of torch_reference.py
  int repeats = 0;                // measured repeats per case where the case takes them (0 = its default)
  bool profile = false;          // print an operator profile of one step after each case
};

// One measured line: ours beside the reference, plus free-form extras (bounds, settings).
struct BenchResult {
  std::string name;              // "generate/gpt2-small/b16/fp32"
  double ours = 0;               // tokens/s
  double reference = 0;          // tokens/s of PyTorch eager (0 = not run)
  nlohmann::json extra = nlohmann::json::object();
};

struct BenchContext {
  BenchOptions opts;
  double bandwidth_gbs = 0;      // measured memory read bandwidth
  std::string cpu;               // lscpu "Model name"
  bool wanted(const std::string& name) const;
  // Runs torch_reference.py with `args` (e.g. "generate --shape tiny --batch 1 --dtype fp32")
  // and returns its tokens_per_s (0 and a note on stderr when it fails).
  double reference_tokens_per_s(const std::string& args) const;
  // Prints a result as a table row or a JSON line, as the options say.
  void report(const BenchResult& r) const;
};

using BenchFn = void (*)(BenchContext& ctx);

struct BenchCase {
  std::string name, summary;
  BenchFn run;
};
std::vector<BenchCase>& bench_registry();
struct RegisterBench {
  RegisterBench(const std::string& name, const std::string& summary, BenchFn fn) {
    bench_registry().push_back({name, summary, fn});
  }
};

// Runs fn once under libtorch's operator profiler and returns a table of the `top` operators by
// self time (bench/profile.cpp).
std::string op_profile(const std::function<void()>& fn, int top = 25);

// Read bandwidth over a 1 GiB buffer (GB/s, best of a few passes, all threads).
double measure_bandwidth_gbs(int threads);
// Size of the largest CPU cache (bytes; 0 when unknown).
int64_t l3_cache_bytes();
std::string cpu_model_name();

}  // namespace rlhf::bench
