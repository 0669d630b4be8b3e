// rlhf-bench: runs the registered cases (generate; later train, ppo) and prints our figures
// beside the PyTorch-eager reference measured in the same invocation, plus the machine's limits.
// It re-executes itself once with OMP_WAIT_POLICY=passive and tcmalloc preloaded (the settings
// the reference also runs with); --untuned skips that.
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench.h"
#include "rlhf/io/error.h"
#include "rlhf/model/runtime.h"
#include "rlhf/util/flags.h"
#include "rlhf/util/tuning.h"

namespace {
void reexec_bench_tuned(char** argv) {
  for (char** a = argv; *a; ++a)
    if (!std::strcmp(*a, "--untuned") || !std::strcmp(*a, "--help") || !std::strcmp(*a, "-h")) return;
  rlhf::reexec_tuned(argv, "RLHF_BENCH_TUNED");
}

// Source tree root: this file is <root>/bench/main.cpp.
std::string source_root() {
  std::string f = __FILE__;
  auto cut = f.rfind("/bench/");
  return cut == std::string::npos ? "." : f.substr(0, cut);
}
}  // namespace

int main(int argc, char** argv) {
  reexec_bench_tuned(argv);
  using namespace rlhf::bench;
  try {
    rlhf::Flags f("rlhf-bench", "Benchmarks beside the PyTorch-eager reference (../shared/bench/torch_reference.py).");
    std::ostringstream names;
    for (const auto& c : bench_registry()) names << " " << c.name;
    f.add_positional("case", "which case to run (all when absent):" + names.str(), false)
        .add_bool("quick", "fewer repeats and a shorter warm-up (figures are noisier)")
        .add_bool("json", "print one JSON object per result: {case, ours, reference, ratio, ...}")
        .add_list("cases", "only sub-cases whose name contains one of these strings (e.g. gpt2-small b16)")
        .add("repeats", "0", "measured repeats of a ppo case, both sides (0 = 5, or 1 with --quick); the median is reported")
        .add("threads", "0", "threads for our side; 0 = all cores")
        .add_bool("no-reference", "skip the PyTorch reference runs")
        .add_bool("no-replay", "ppo: recompute the first optimiser step's policy forward (rlhf ppo --no-replay)")
        .add("reference-script", source_root() + "/../shared/bench/torch_reference.py", "the PyTorch reference script")
        .add_bool("untuned", "do not re-exec with OMP_WAIT_POLICY=passive and tcmalloc")
        .add_bool("profile", "after each train/ppo case, print an operator profile of one step (self time per operator)");
    if (!f.parse(argc - 1, argv + 1)) return 0;
    BenchContext ctx;
    ctx.opts.quick = f.flag("quick");
    ctx.opts.json = f.flag("json");
    ctx.opts.filters = f.list("cases");
    ctx.opts.threads = static_cast<int>(f.integer("threads"));
    ctx.opts.reference = !f.flag("no-reference");
    ctx.opts.replay = !f.flag("no-replay");
    ctx.opts.reference_script = f.str("reference-script");
    ctx.opts.profile = f.flag("profile");
    ctx.opts.repeats = static_cast<int>(f.integer("repeats"));
    if (ctx.opts.repeats < 0) throw rlhf::Error("--repeats must be >= 0, got " + std::to_string(ctx.opts.repeats));
    if (ctx.opts.reference && access(ctx.opts.reference_script.c_str(), R_OK) != 0) {
      std::cerr << "note: " << ctx.opts.reference_script << " not found; running without the reference (--reference-script)\n";
      ctx.opts.reference = false;
    }
    const int threads = ctx.opts.threads > 0 ? ctx.opts.threads : static_cast<int>(std::thread::hardware_concurrency());
    rlhf::init_runtime({threads, "cpu"});
    ctx.cpu = cpu_model_name();
    ctx.bandwidth_gbs = measure_bandwidth_gbs(threads);
    std::ostream& info = ctx.opts.json ? std::cerr : std::cout;
    info << "cpu: " << ctx.cpu << ", " << threads << " threads, memory read bandwidth " << ctx.bandwidth_gbs
         << " GB/s (1 GiB sum)\n";
    const std::string want = f.str("case");
    bool ran = false;
    for (const auto& c : bench_registry()) {
      if (!want.empty() && c.name != want) continue;
      ran = true;
      if (!ctx.opts.json)
        std::cout << "\n== " << c.name << ": " << c.summary << "\n"
                  << "case                               ours  reference   ratio  bw-bound\n";
      c.run(ctx);
    }
    if (!ran) throw rlhf::Error("unknown case \"" + want + "\" (cases:" + names.str() + ")");
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
