// The reward-model stage of `rlhf pipeline`: sample K responses per world training prompt from
// the SFT model, label them with the simulated annotators, train the reward model, and evaluate it
// on held-out prompts against the gold judge. Its summary is `summary.json`'s "rm" object.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/pipeline/pipeline.h"
#include "rlhf/reward/trainer.h"
#include "rlhf/world/annotators.h"

namespace rlhf::pipeline {

struct RmStageConfig {
  std::string sft_dir;              // SFT checkpoint: samples the candidates and initialises the trunk
  std::string out_dir;              // RUN/rm: train_prefs.jsonl, heldout_gold.jsonl, model/, stage.json
  int64_t train_prompts = 512;      // world train-split prompts labelled by the annotators
  int64_t eval_prompts = 128;       // held-out prompts (world val split) judged by the gold judge
  int k = 4;                        // responses sampled per training prompt
  int eval_k = 0;                   // responses sampled per held-out prompt; 0 = k
  bool rankings = true;             // true: one K-way ranking per prompt; false: C(K,2) labelled pairs
  int annotators = 8;               // simulated annotators (prompt i goes to annotator i % n)
  world::AnnotatorConfig annotator; // their noise model (temperature, flips, bias)
  double temperature = 1.0;         // sampling temperature for the candidates (diversity)
  int64_t max_new_tokens = 64;      // candidate length limit
  uint64_t seed = 0;                // prompts, sampling and labels
  reward::RewardTrainConfig rm;     // trainer settings; model/out are set by the stage
};

// responses[p][j]: the j-th of k responses to prompts[p] (with leading space, no EOS).
using CandidateSampler =
    std::function<std::vector<std::vector<std::string>>(const std::vector<std::string>& prompts, int k, uint64_t seed)>;

// Samples candidates from a checkpoint with the shared generator.
CandidateSampler checkpoint_sampler(const std::string& checkpoint_dir, double temperature, int64_t max_new_tokens,
                                    const std::string& device = "cpu");

// Candidates written by the world's response writer in random styles (good, wrong, verbose, rude,
// ...): a model-free stand-in for the SFT sampler, for tests and for checking the reward model
// apart from the SFT model's quality.
CandidateSampler world_style_sampler();

// Runs the stage; `sampler` defaults to checkpoint_sampler(cfg.sft_dir, ...). Returns
// {"accuracy_vs_gold", "accuracy_ci95", "spearman_gold", "pearson_gold", "length_longer_accuracy",
//  "length_shorter_accuracy", "n", "annotator_gold_agreement", "train_records", "model"} and writes
// it to OUT/stage.json.
nlohmann::json run_rm_stage(const RmStageConfig& cfg, const CandidateSampler& sampler = {});

// Stage settings for a pipeline preset ("tiny": seconds, for tests; otherwise the main run).
RmStageConfig rm_stage_config(const PipelineContext& ctx);
// The "rm" stage for run_pipeline: SFT from DIR/sft/final, output in DIR/rm (model in DIR/rm/model).
PipelineStage rm_pipeline_stage();

}  // namespace rlhf::pipeline
