// The policy-optimisation stage of `rlhf pipeline`: PPO (default) or RLOO / GRPO / REINFORCE from
// the SFT checkpoint against the reward model of the rm stage, on the world's train prompts, then
// evaluation on held-out test prompts against the SFT model with the gold judge. Its summary is
// summary.json's "ppo" object.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "rlhf/pipeline/pipeline.h"
#include "rlhf/rl/ppo_config.h"
#include "rlhf/train/config.h"

namespace rlhf::pipeline {

struct PpoStageConfig {
  std::string sft_dir;              // SFT checkpoint: policy start and frozen reference
  std::string rm_dir;               // reward-model folder (the rm stage's model/)
  std::string out_dir;              // RUN/ppo: the PPO run folder (checkpoints, final/, metrics.jsonl) + stage.json
  std::string prompts = "world:train";  // training prompts
  std::string eval_prompts = "world:test";  // held-out prompts for the summary
  rl::PpoConfig ppo;                // algorithm settings (ppo.algo selects ppo|rloo|grpo|reinforce)
  TrainConfig opt;                  // optimiser settings (lr, ...); steps are set by the trainer
  bool resume = true;               // continue an interrupted stage from its checkpoints
  PpoStageConfig();                 // pipeline defaults (see stage_ppo.cpp)
};

// Runs the stage and returns {"gold_mean", "gold_ci95", "gold_delta_vs_sft", "gold_delta_ci95",
// "win_rate_vs_sft", "win_rate_ci95", "sft_gold_mean", "kl", "kl_target", "rm_mean", "n", "algo",
// "iterations", "model"}, also written to OUT/stage.json.
nlohmann::json run_ppo_stage(const PpoStageConfig& cfg);

// The stage's settings for a pipeline run: SFT from DIR/sft/final, the reward model from
// DIR/rm/model, the run in DIR/ppo; `algo` = ppo | rloo | grpo | reinforce; sizes by preset.
PpoStageConfig ppo_stage_config(const PipelineContext& ctx, const std::string& algo = "ppo");
// The "ppo" stage of `rlhf pipeline` (summary.json's "ppo" object).
PipelineStage ppo_pipeline_stage(const std::string& algo = "ppo");

}  // namespace rlhf::pipeline
