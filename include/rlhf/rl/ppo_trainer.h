// One policy-optimisation iteration at a time (PPO with a value model, or the critic-free RLOO /
// GRPO / REINFORCE): generate with the KV-cached generator, score, one reference (+ value)
// forward over the whole sequences, KL-shaped rewards, advantages, then epochs of clipped
// updates through the shared Trainer step. The run loop (checkpoints, logs) is in ppo_run.h.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rlhf/data/lm_batch.h"
#include "rlhf/model/transformer.h"
#include "rlhf/rl/losses.h"
#include "rlhf/rl/ppo_config.h"
#include "rlhf/rl/reward_fn.h"
#include "rlhf/rl/rollout.h"
#include "rlhf/tokenizer/tokenizer.h"
#include "rlhf/train/config.h"
#include "rlhf/train/trainer.h"

namespace rlhf::rl {

// The models of a run. value_trunk/value_head are null for the critic-free algorithms.
struct PolicyModels {
  Transformer policy{nullptr};       // trained
  Transformer reference{nullptr};    // frozen copy of the starting policy (requires_grad off)
  Transformer value_trunk{nullptr};  // PPO's value model: trunk ...
  ScalarHead value_head{nullptr};    // ... + scalar head
};

// One sampled response, for samples.jsonl and evaluation.
struct SampleRecord {
  std::string prompt, response;
  double score = 0, raw_score = 0, kl = 0;
  bool finished = true;
};

// The whole rollout of one iteration, before the update (also what evaluation uses).
struct RolloutResult {
  std::vector<std::string> prompts;              // per row (prompts repeated k times, grouped)
  std::vector<std::vector<int64_t>> prompt_ids;  // per row
  std::vector<GeneratedRow> rows;
  std::vector<std::string> responses;            // decoded, end token dropped
  RolloutBatch batch;
};

class PpoTrainer {
 public:
  // opt: optimiser settings (lr, betas, weight decay, grad clip, dtype, seed); its `steps` is
  // overwritten with the run's optimiser steps so the schedule spans the run.
  PpoTrainer(PpoConfig cfg, TrainConfig opt, PolicyModels models, std::shared_ptr<RewardFn> reward,
             std::shared_ptr<Tokenizer> tok);

  // PPO-ptx data (tokenized SFT/pretraining examples); needs cfg.ptx_coef > 0 to matter.
  void set_ptx_data(std::vector<data::TokenizedExample> examples);

  // One iteration on these prompt texts (cfg.batch_prompts of them). Returns the metrics record
  // (see docs/ppo.md for the fields); `samples` receives the first cfg.samples_per_log rows.
  nlohmann::json iterate(const std::vector<std::string>& prompts, std::vector<SampleRecord>* samples = nullptr);

  // Generation only: `k` samples per prompt with the current policy, `seed` for the sampler.
  // `record`: let the decode engine record the activations of the rows of this iteration's first
  // optimiser step, which the update then replays (PpoConfig::replay_generation; iterate() asks).
  RolloutResult rollout(const std::vector<std::string>& prompts, int64_t k, uint64_t seed, bool record = false);
  // Whether iterate() replays the first optimiser step's policy forward (config, model, backend).
  bool replays() const;
  // Prompt text -> ids (BOS when the tokenizer wants it; cut from the left to max_prompt_tokens).
  std::vector<int64_t> encode_prompt(const std::string& prompt) const;

  const PpoConfig& config() const { return cfg_; }
  PolicyModels& models() { return m_; }
  KlController& kl_controller() { return kl_; }
  Trainer& trainer() { return *trainer_; }
  int64_t iteration() const { return iteration_; }
  int64_t pad_id() const { return pad_id_; }
  const std::shared_ptr<Tokenizer>& tokenizer() const { return tok_; }
  // Trainer-state extras (iteration, beta, ptx position) for checkpoints, and their restore.
  nlohmann::json state_json() const;
  void restore_state(const nlohmann::json& j);
  // Optimiser steps one iteration takes (epochs x mini-batches).
  int64_t steps_per_iteration() const;

 private:
  struct Advantages {
    torch::Tensor adv, returns, old_values;  // (N, T); returns/old_values undefined without a critic
  };
  Advantages compute_advantages(const RolloutBatch& b, const torch::Tensor& scores, const torch::Tensor& kl_tok,
                                const torch::Tensor& values, double beta, nlohmann::json& rec) const;
  // Measured inside the update: before its first optimiser step (max |recomputed - generation's
  // log-prob|) and over its first epoch (mean per-token entropy of the policy).
  struct UpdateChecks {
    double gen_diff = 0, entropy = 0;
    // Entropy summed over the replayed rows' tokens, measured by their (pre-update) replayed forward.
    double replay_ent_sum = 0, replay_ent_tok = 0;
  };
  nlohmann::json update(const RolloutBatch& b, const torch::Tensor& old_logp, const Advantages& a,
                        UpdateChecks* chk = nullptr);
  torch::Tensor ptx_loss();  // mean LM loss over the next ptx_batch examples
  // The order in which epoch `epoch` of this iteration visits the n rows (a seeded shuffle).
  std::vector<int64_t> epoch_order(int64_t epoch, int64_t n) const;

  // The first micro-batch of the iteration's first optimiser step, forwarded with autograd in the
  // reference/value phase: the parameters have not moved yet, so its values (and, under bf16
  // without the replay below, its log-probs) are the "old" ones for those rows and its graph is
  // that micro-batch's loss. The no-grad value (and bf16 old-policy) forward then covers only the
  // other rows: no row goes through the same model twice at the same weights.
  struct FirstMicro {
    torch::Tensor idx;     // (n) int64 rows of the batch, in the epoch-0 order
    torch::Tensor rest;    // (N - n) int64 the batch's other rows, ascending
    RolloutBatch sub;      // those rows, trimmed (trim_padding)
    TokenLogprobs cur;     // the policy's log-probs with graph (bf16 only; undefined otherwise)
    torch::Tensor values;  // the value model's values with graph (PPO only)
  };
  std::optional<FirstMicro> first_;
  // The generator's recording of the first optimiser step's rows (part m = micro-batch m), from
  // rollout(record = true) to the end of that step; null when not replaying.
  std::unique_ptr<DecodeRecording> replay_;
  torch::Tensor replay_arena_;  // its storage, kept across iterations (fresh pages cost)
  // Plans replay_ for these rows (prompt ids per row): micro-batches of the first mini-batch
  // within replay_max_mb.
  void plan_recording(const std::vector<std::vector<int64_t>>& prompt_ids);

  PpoConfig cfg_;
  Algo algo_;
  KlEstimator kl_est_;
  PolicyModels m_;
  std::shared_ptr<RewardFn> reward_;
  std::shared_ptr<Tokenizer> tok_;
  std::unique_ptr<Trainer> trainer_;
  KlController kl_;
  std::vector<data::TokenizedExample> ptx_;
  int64_t ptx_pos_ = 0;
  int64_t iteration_ = 0;
  int64_t pad_id_ = 0;
  std::vector<int64_t> stop_ids_;
};

}  // namespace rlhf::rl
