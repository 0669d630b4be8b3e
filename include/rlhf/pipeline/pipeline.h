// `rlhf pipeline`: the whole run on the embedded world, stage by stage, each in its own subfolder
// of the run folder: world data -> pretrain -> SFT -> evaluation (later issues append reward
// model, PPO, ...). A stage is complete when DIR/<stage>/stage.json exists (written atomically,
// last); complete stages are skipped, so rerunning after an interruption resumes (an interrupted
// training stage continues from its newest checkpoint). DIR/summary.json gathers every stage's
// figures and wall time.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/model/config.h"
#include "rlhf/train/config.h"

namespace rlhf::pipeline {

// Sizes of one pipeline run. `tiny` is for tests (well under a minute); `default` is the main job
// (pretraining dominates; the whole preset fits the 15-minute budget on 2 cores with room for
// the later stages).
struct PipelinePreset {
  std::string name = "default";
  uint64_t seed = 0;                 // world data, init, data order, sampling
  size_t corpus_tokens = 1200000;    // world pretraining corpus (approximate tokens)
  int vocab_size = 2048;             // BPE trained on the corpus
  ModelConfig model;                 // layout; vocab/special ids come from the tokenizer
  TrainConfig pretrain;              // pretraining loop
  size_t demos = 2000;               // SFT demonstrations written by the world
  TrainConfig sft;                   // SFT loop
  int64_t eval_prompts = 200;        // held-out test prompts for the gold evaluation
  int64_t max_new_tokens = 48;       // response length limit when sampling for evaluation
  double eval_temperature = 0.0;     // 0 = greedy decoding for evaluation
  int samples_shown = 6;             // sample responses printed with their gold scores
  int threads = 0;                   // intra-op threads (0 = all cores)
};

// "tiny" or "default"; throws naming --preset and the allowed values otherwise.
PipelinePreset pipeline_preset(const std::string& name);

// Shared by every stage: where the run lives and what earlier stages produced.
struct PipelineContext {
  std::string out;                // DIR
  PipelinePreset preset;
  nlohmann::json summary;         // figures of the stages completed so far, by stage name
  int progress_tty = -1;          // -1 detect; 0/1 force
  std::string dir(const std::string& stage) const;  // DIR/<stage>
};

// A stage returns its figures (wall_s is added by the runner).
struct PipelineStage {
  std::string name;
  std::function<nlohmann::json(PipelineContext&)> run;
};

// world, pretrain, sft, eval (in that order). Later issues append theirs.
std::vector<PipelineStage> default_stages(const std::string& algo = "ppo");

// Runs the stages in order, skipping complete ones, and writes DIR/summary.json after each stage
// (atomically). The summary holds one object per stage and, from the evaluation, "base" and
// "sft" gold figures ({"gold_mean", "gold_ci95": [lo, hi]}, sft also "win_rate_vs_base").
nlohmann::json run_pipeline(PipelineContext& ctx, const std::vector<PipelineStage>& stages);

// Gold evaluation of a checkpoint on dialogue prompts: responses (greedy or sampled), their gold
// scores. Used by the eval stage and later RL stages.
struct GoldEval {
  std::vector<std::string> responses;
  std::vector<double> gold;
  double mean = 0, lo = 0, hi = 0;  // mean with its 95% bootstrap interval (1000 resamples, seeded)
};
GoldEval gold_eval(const std::string& checkpoint_dir, const std::vector<std::string>& prompts,
                   int64_t max_new_tokens, double temperature, uint64_t seed);

}  // namespace rlhf::pipeline
