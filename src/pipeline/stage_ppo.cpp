// The pipeline's policy-optimisation stage: PPO/RLOO/GRPO from SFT against the reward model,
// then the held-out gold comparison with SFT (summary.json's "ppo").
#include "rlhf/pipeline/stage_ppo.h"

#include <algorithm>
#include <iostream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/rl/ppo_eval.h"
#include "rlhf/rl/ppo_run.h"
#include "rlhf/rl/ppo_setup.h"

namespace rlhf::pipeline {

PpoStageConfig::PpoStageConfig() {
  // Defaults measured on the embedded world (docs/ppo.md, "Pipeline stage"): 400 iterations of 32
  // rows, one pass in two optimiser steps of 16 rows (lr 2e-4: 1e-5 left the 2M-parameter policy
  // where it was), 8 sampled responses per held-out prompt in the evaluation. The KL penalty is
  // strong (beta 0.2) because the reward model is exploitable: at beta 0.05 (adaptive toward 6
  // nats) the policy shortened its answers and lost gold against the likelihood-term RM, at a fixed
  // 0.2 it gained gold at a KL of about 1. The adaptive controller keeps the target of 2 nats as a
  // ceiling; with the 10,000-sample horizon of Ziegler et al. beta moves at most 0.064% per
  // iteration of 32 samples, so within a run it stays close to 0.2 unless KL overshoots for long.
  // Against the pipeline's reward model (docs/ppo.md, "Results against the pipeline's reward
  // model") 100 iterations gained +0.02 gold on average, inside the noise of one run; 200
  // iterations gained +0.035 to +0.061 with the 95% interval above zero on each of 4 seeds, at
  // the same KL (~1 nat: beta 0.2 holds it there) for about 35 s more. On a later build's models
  // 200 iterations gained +0.001 / +0.055 / +0.036 (seeds 0-2) and 400 gained +0.054 / +0.042 /
  // +0.080, every interval above zero, KL 1.0-1.5: the stage now runs 400 (~35 s more). The
  // evaluation samples 8 responses per held-out prompt (4 gave an interval of about +-0.035, 8
  // about +-0.028).
  ppo.iterations = 400;
  ppo.batch_prompts = 32;
  ppo.max_new_tokens = 48;
  ppo.kl_coef = 0.2;
  ppo.kl_target = 2.0;
  ppo.kl_horizon = 10000;
  ppo.ppo_epochs = 1;
  ppo.mini_batch = 16;
  ppo.micro_batch = 16;
  ppo.missing_eos_penalty = -1.0;
  ppo.eval_prompts = 200;
  ppo.eval_samples = 8;
  opt.lr = 2e-4;
  opt.weight_decay = 0.0;
  opt.warmup_steps = 0;
  opt.min_lr_ratio = 1.0;
}

nlohmann::json run_ppo_stage(const PpoStageConfig& cfg_in) {
  PpoStageConfig cfg = cfg_in;
  if (cfg.sft_dir.empty()) throw Error("ppo stage: no SFT checkpoint given");
  if (cfg.rm_dir.empty()) throw Error("ppo stage: no reward model given");
  if ((cfg.ppo.algo == "rloo" || cfg.ppo.algo == "grpo") && cfg.ppo.samples_per_prompt < 2) {
    // k = 4 samples of half as many prompts: twice PPO's rows, the same cost without a value model.
    cfg.ppo.samples_per_prompt = 4;
    cfg.ppo.batch_prompts = std::max<int64_t>(1, cfg.ppo.batch_prompts / 2);
  }
  cfg.ppo.validate();
  io::make_dirs(cfg.out_dir);
  rl::PpoSources src;
  src.policy = cfg.sft_dir;
  src.rewards = {cfg.rm_dir};
  auto setup = rl::build_ppo(cfg.ppo, cfg.opt, src);
  auto prompts = rl::PromptSource::load(cfg.prompts, cfg.ppo.seed);
  auto eval_prompts = rl::PromptSource::sample(cfg.eval_prompts, cfg.ppo.eval_prompts, 12345);
  rl::PpoRunOptions ro;
  ro.run_dir = cfg.out_dir;
  ro.resume = cfg.resume;
  ro.config = {{"ppo", cfg.ppo.to_json()}, {"optimizer", cfg.opt.to_json()}, {"sft", cfg.sft_dir}, {"rm", cfg.rm_dir}};
  ro.label = "pipeline " + cfg.ppo.algo;
  auto res = rl::run_ppo(*setup.trainer, prompts, ro);
  // The summary is computed on the final policy (also after a resume that found the run finished).
  nlohmann::json s = rl::evaluate_summary(*setup.trainer, eval_prompts, setup.rm.get(), cfg.ppo.seed + 1000003);
  s["algo"] = cfg.ppo.algo;
  s["iterations"] = res.iterations;
  s["model"] = res.final_dir;
  io::write_json_atomic(io::join_path(cfg.out_dir, "stage.json"), s);
  return s;
}

PpoStageConfig ppo_stage_config(const PipelineContext& ctx, const std::string& algo) {
  const PipelinePreset& p = ctx.preset;
  PpoStageConfig c;
  c.sft_dir = io::join_path(ctx.dir("sft"), "final");
  c.rm_dir = io::join_path(ctx.dir("rm"), "model");
  c.out_dir = ctx.dir("ppo");
  c.ppo.algo = algo;
  c.ppo.seed = p.seed;
  c.ppo.max_new_tokens = p.max_new_tokens;
  c.opt.threads = p.threads;
  c.opt.seed = p.seed;
  if (p.name == "tiny") {
    c.ppo.iterations = 2;
    c.ppo.batch_prompts = 4;
    c.ppo.mini_batch = 4;
    c.ppo.micro_batch = 4;
    c.ppo.ppo_epochs = 1;
    c.ppo.max_new_tokens = std::min<int64_t>(16, p.max_new_tokens);
    c.ppo.eval_prompts = 8;
    c.ppo.eval_samples = 4;
    c.ppo.sample_every = 1;
  } else {
    c.ppo.eval_prompts = p.eval_prompts;
  }
  return c;
}

PipelineStage ppo_pipeline_stage(const std::string& algo) {
  return {"ppo", [algo](PipelineContext& ctx) { return run_ppo_stage(ppo_stage_config(ctx, algo)); }};
}

}  // namespace rlhf::pipeline
