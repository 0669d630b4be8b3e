// The run loop around PpoTrainer::iterate: prompts from a PromptSource, metrics.jsonl and the
// progress line, samples.jsonl every N iterations, periodic held-out evaluation, atomic
// checkpoints (policy, value model, optimiser, KL controller, RNG, prompt position) and exact
// resume, and RUN/final (a policy checkpoint folder usable by every other command).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "rlhf/rl/ppo_trainer.h"
#include "rlhf/rl/prompt_source.h"

namespace rlhf::rl {

struct PpoRunOptions {
  std::string run_dir;          // RUN: checkpoint-<iteration>/, final/, metrics.jsonl, samples.jsonl, config.json
  bool resume = false;          // continue from the newest checkpoint (a run folder with checkpoints needs it)
  int64_t save_every = 0;       // checkpoint every N iterations (plus the end); 0 = only at the end
  int64_t keep_checkpoints = 1; // intermediate checkpoints kept
  nlohmann::json config;        // the resolved configuration, written to RUN/config.json
  // Optional held-out evaluation, called every cfg.eval_every iterations and at the end; its
  // fields go into the metrics record with an "eval_" prefix.
  std::function<nlohmann::json(PpoTrainer&)> evaluate;
  int progress_tty = -1;        // -1 = detect; 0/1 force (tests)
  std::string label;            // progress-line prefix (default: the algorithm)
};

struct PpoRunResult {
  std::string final_dir;        // RUN/final
  int64_t iterations = 0;       // iterations completed
  nlohmann::json last;          // the last iteration's metrics record
  nlohmann::json last_eval;     // the last evaluation (null without one)
  bool resumed = false;
  bool already_done = false;    // RUN/final existed
};

// Saves the trainer's models and state into checkpoint folder `dir`: the policy's checkpoint
// files (with the tokenizer), value/ (trunk + head) for PPO, trainer_state.{json,pt}.
void save_ppo_checkpoint(PpoTrainer& t, const PromptSource& prompts, const std::string& dir);
// Loads them back into the trainer's models (in place) and state, and seeks `prompts`.
void load_ppo_checkpoint(PpoTrainer& t, PromptSource& prompts, const std::string& dir);

PpoRunResult run_ppo(PpoTrainer& t, PromptSource& prompts, const PpoRunOptions& opts);

}  // namespace rlhf::rl
