// rlhf-bench generate: tokens/s of KV-cached sampling (32-token prompts, 128 new tokens,
// temperature 1) for the tiny and GPT-2-small shapes at batch 1 and 16, fp32 and bf16, beside
// torch_reference.py's figure, with the memory-bandwidth bound of a decode step.
#include <algorithm>
#include <chrono>
#include <iostream>

#include "bench.h"
#include "rlhf/generation/generate.h"

namespace rlhf::bench {
namespace {

constexpr int64_t kPrompt = 32, kNew = 128;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_generate(BenchContext& ctx) {
  const int threads = ctx.opts.threads > 0 ? ctx.opts.threads : torch::get_num_threads();
  for (const ModelShape& s : kModelShapes) {
    bool any = false;
    for (int b : {1, 16})
      for (const char* d : {"fp32", "bf16"})
        any |= ctx.wanted(std::string("generate/") + s.name + "/b" + std::to_string(b) + "/" + d);
    if (!any) continue;
    ModelConfig cfg = model_config(s);
    torch::manual_seed(0);
    Transformer model(cfg);
    model->eval();
    for (const char* dtype : {"fp32", "bf16"}) {
      bool any_dtype = false;
      for (int b : {1, 16})
        any_dtype |= ctx.wanted(std::string("generate/") + s.name + "/b" + std::to_string(b) + "/" + dtype);
      if (!any_dtype) continue;
      DecodeEngineOptions eo;
      eo.bf16_weights = std::string(dtype) == "bf16";
      eo.threads = threads;
      auto t_pack = std::chrono::steady_clock::now();
      DecodeEngine engine(model, eo);
      const double pack_s = seconds_since(t_pack);
      for (int64_t batch : {1, 16}) {
        const std::string name = std::string("generate/") + s.name + "/b" + std::to_string(batch) + "/" + dtype;
        if (!ctx.wanted(name)) continue;
        torch::manual_seed(1);
        auto ids = torch::randint(s.vocab, {batch, kPrompt}, torch::kLong);
        std::vector<std::vector<int64_t>> prompts(batch);
        for (int64_t i = 0; i < batch; ++i) prompts[i].assign(ids[i].data_ptr<int64_t>(), ids[i].data_ptr<int64_t>() + kPrompt);
        SamplingConfig sc;  // temperature 1, full vocabulary: the reference's multinomial
        sc.max_new_tokens = kNew;
        sc.stop_ids = std::vector<int64_t>{};
        GenerateOptions go;
        go.engine = &engine;
        SamplingConfig warm = sc;
        warm.max_new_tokens = ctx.opts.quick ? 8 : kNew;
        generate(model, prompts, warm, go);
        std::vector<double> rates;
        for (int rep = 0; rep < (ctx.opts.quick ? 1 : 3); ++rep) {
          sc.seed = rep;
          auto t0 = std::chrono::steady_clock::now();
          auto rows = generate(model, prompts, sc, go);
          const double sec = seconds_since(t0);
          int64_t n = 0;
          for (auto& r : rows) n += static_cast<int64_t>(r.tokens.size());
          rates.push_back(n / sec);
        }
        std::sort(rates.begin(), rates.end());
        BenchResult r;
        r.name = name;
        r.ours = rates[rates.size() / 2];
        r.reference = ctx.reference_tokens_per_s(std::string("generate --shape ") + s.name + " --batch " +
                                                 std::to_string(batch) + " --dtype " + dtype);
        // A decode step reads every weight once and each row's cache (average length P + N/2).
        const double step_bytes = static_cast<double>(engine.weight_bytes()) +
                                  batch * (kPrompt + kNew / 2.0) * static_cast<double>(engine.kv_bytes_per_token());
        r.extra["bound_tokens_per_s"] = batch * ctx.bandwidth_gbs * 1e9 / step_bytes;
        r.extra["step_bytes"] = step_bytes;
        r.extra["bandwidth_gbs"] = ctx.bandwidth_gbs;
        r.extra["ours_gbs"] = r.ours / batch * step_bytes / 1e9;  // bytes a step reads x steps/s
        // When weights + cache fit in the last-level cache, steps after the first read them from
        // there, not from DRAM: the DRAM bound is then no limit at all.
        const int64_t llc = l3_cache_bytes();
        r.extra["llc_bytes"] = llc;
        if (llc > 0 && step_bytes <= static_cast<double>(llc)) {
          r.extra["bound_applies"] = false;
          r.extra["bound_note"] = "weights + KV cache (" + std::to_string(static_cast<int64_t>(step_bytes / 1e6)) +
                                  " MB) fit in the " + std::to_string(llc >> 20) +
                                  " MiB last-level cache: the DRAM bandwidth bound does not apply";
        } else {
          r.extra["bound_applies"] = true;
          r.extra["bound_note"] = "weights + KV cache read once per decode step from DRAM at the measured bandwidth";
        }
        r.extra["pack_s"] = pack_s;
        r.extra["threads"] = threads;
        r.extra["cpu"] = ctx.cpu;
        r.extra["tokens_per_s_all"] = rates;
        ctx.report(r);
      }
    }
  }
}

RegisterBench reg("generate",
                  "KV-cached sampling tokens/s, 32-token prompts + 128 new tokens (bw-bound: weights + KV cache "
                  "bytes per step vs measured bandwidth)",
                  run_generate);

}  // namespace
}  // namespace rlhf::bench
