// rlhf-bench train: training tokens/s (forward + backward + AdamW through the shared Trainer) for
// the tiny shape (the world-model class) and GPT-2-small, context 256, fp32 and bf16, beside
// torch_reference.py train run in the same invocation, with model-FLOP utilisation against the
// machine's measured matmul peak.
#include <algorithm>
#include <chrono>
#include <iostream>

#include "bench.h"
#include "kernels/train_ops.h"
#include "rlhf/model/transformer.h"
#include "rlhf/train/lm_loss.h"
#include "rlhf/train/trainer.h"

namespace rlhf::bench {
namespace {

constexpr int64_t kSeq = 256;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Best-of-3 GFLOP/s of a square matmul (1024^3 multiply-adds) in `dtype`.
double matmul_peak_gflops(torch::Dtype dtype) {
  const int64_t n = 1024;
  auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  torch::mm(a, b);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    const int iters = 4;
    for (int i = 0; i < iters; ++i) torch::mm(a, b);
    best = std::max(best, iters * 2.0 * n * n * n / seconds_since(t0) / 1e9);
  }
  return best;
}

void run_train(BenchContext& ctx) {
  if (ctx.opts.threads > 0) torch::set_num_threads(ctx.opts.threads);
  double peak_fp32 = 0, peak_bf16 = 0;
  for (const ModelShape& s : kModelShapes) {
    // torch_reference.py train's defaults: batch 8 (tiny) / 4, steps per repeat 5 / 2.
    const bool tiny = std::string(s.name) == "tiny";
    const int64_t rows = tiny ? 8 : 4, shape_steps = tiny ? 5 : 2;
    for (const char* dtype : {"fp32", "bf16"}) {
      const std::string name = std::string("train/") + s.name + "/" + dtype;
      if (!ctx.wanted(name)) continue;
      if (peak_fp32 == 0) {
        // The machine's fp32 peak: the faster of libtorch's BLAS and oneDNN's sgemm (which the
        // fp32 training path uses), so utilisation is never flattered by a slow reference kernel.
        peak_fp32 = std::max(matmul_peak_gflops(torch::kFloat32), kernels::sgemm_peak_gflops(1024));
        peak_bf16 = matmul_peak_gflops(torch::kBFloat16);
      }
      ModelConfig cfg = model_config(s);
      torch::manual_seed(0);
      Transformer model(cfg);
      model->train();
      TrainConfig tc;
      tc.lr = 1e-4;
      tc.weight_decay = 0.1;
      tc.warmup_steps = 0;
      tc.grad_clip = 0;  // the reference does not clip
      tc.batch_size = rows;
      tc.steps = 1000000;
      tc.dtype = dtype;
      Trainer trainer(named_params(*model), tc);
      auto x = torch::randint(s.vocab, {rows, kSeq}, torch::kLong);
      auto y = torch::randint(s.vocab, {rows, kSeq}, torch::kLong);
      data::LmBatch batch{x, torch::ones_like(x), y};
      auto step = [&] {
        trainer.step([&](int64_t) { return lm_loss_sum(model->forward(x), batch); });
      };
      step();  // warm-up (allocations, autocast caches)
      std::vector<double> rates;
      const int repeats = ctx.opts.quick ? 1 : 3;
      const int64_t steps = ctx.opts.quick ? 1 : shape_steps;
      for (int rep = 0; rep < repeats; ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < steps; ++i) step();
        rates.push_back(steps * rows * kSeq / seconds_since(t0));
      }
      std::sort(rates.begin(), rates.end());
      BenchResult r;
      r.name = name;
      r.ours = rates[rates.size() / 2];
      r.reference = ctx.reference_tokens_per_s(std::string("train --shape ") + s.name + " --dtype " + dtype);
      // Model FLOPs per token: 6 per weight (forward 2, backward 4; the tied head counts once as
      // the LM-head matmul) + attention scores and values (12 * layers * T * C).
      int64_t params = 0;
      for (const auto& p : model->parameters()) params += p.numel();
      params -= s.ctx * s.d_model;  // position table: a lookup, no FLOPs
      const double flops_per_token = 6.0 * params + 12.0 * s.n_layer * kSeq * s.d_model;
      const double peak = std::string(dtype) == "bf16" ? peak_bf16 : peak_fp32;
      r.extra["mfu"] = r.ours * flops_per_token / (peak * 1e9);
      r.extra["model_gflops"] = r.ours * flops_per_token / 1e9;
      r.extra["matmul_peak_gflops"] = peak;
      r.extra["params"] = params;
      r.extra["batch"] = rows;
      r.extra["seq"] = kSeq;
      r.extra["threads"] = torch::get_num_threads();
      r.extra["cpu"] = ctx.cpu;
      r.extra["tokens_per_s_all"] = rates;
      ctx.report(r);
      if (ctx.opts.profile) std::cout << "  profile of one " << name << " step:\n" << op_profile(step);
    }
  }
}

RegisterBench reg("train",
                  "training tokens/s (forward + backward + AdamW), context 256, fp32 and bf16, with MFU against the "
                  "measured matmul peak",
                  run_train);

}  // namespace
}  // namespace rlhf::bench
