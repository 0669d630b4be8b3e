// Reward-model training on the shared loop (include/rlhf/train/loop.h): trunk from a checkpoint
// (usually the SFT model) + a fresh scalar head, trained on preference groups with the losses of
// rlhf/reward/losses.h; optional ensembles (one member per seed / data order) and the
// normalisation statistics measured on a reference set after training.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/data/preference.h"
#include "rlhf/eval/reward_eval.h"
#include "rlhf/reward/reward_model.h"
#include "rlhf/train/config.h"

namespace rlhf {
class Flags;
}

namespace rlhf::reward {

struct RewardTrainConfig {
  std::string model;              // checkpoint folder the trunk starts from (SFT or pretrained model)
  std::string out;                // reward-model folder to write (ensemble: a folder of member_<i>/)
  TrainConfig train;              // shared loop settings; batch_size = preference records per micro-batch
  std::string ranking_loss = "pairwise";  // "pairwise" (all C(K,2) pairs) or "plackett-luce"
  std::string ties = "ignore";    // "ignore": ties give no gradient; "loss": pull tied rewards together
  double margin_scale = 0.0;      // margin = margin_scale * record margin/strength (Llama 2); 0 = no margin
  double center_coef = 0.0;       // centring penalty weight (mean reward per record pushed to 0); 0 = off
  double lm_coef = 0.0;           // initial coefficient of the learned likelihood term (RewardNetImpl); 0 = off
  std::string lm_mode = "sum";    // how it enters: "sum" | "mean" | "ref" (reference = `model`) (LmMode)
  int64_t max_len = 0;            // longest input in tokens (prompt cut from the left); 0 = model max_seq
  int ensemble = 1;               // members; member i uses seed + i (head init and data order)
  int64_t reference_max = 2000;   // responses of the reference set used for normalisation statistics
  std::string device = "cpu";     // "cpu" or "cuda[:N]"
  bool resume = false;            // continue interrupted member runs from their checkpoints
  int progress_tty = -1;          // -1 detect; 0/1 force plain/live progress lines (tests)
  void validate() const;          // throws rlhf::Error naming the flag
};

struct RewardTrainResult {
  std::vector<double> first_loss, last_loss;  // per member
  std::vector<double> train_accuracy;         // per member: pairwise accuracy on the first training records
                                              // (at most reference_max responses)
  std::vector<RewardStats> stats;             // per member normalisation statistics
  bool has_eval = false;
  eval::RewardEvalResult eval;                // on the eval set (ensemble mean), when one was given
  int64_t records = 0;                        // training records used
  int64_t tie_only_dropped = 0;               // records without a strict pair left out under ties=ignore
  int64_t truncated = 0;                      // training sequences cut to max_len
  std::string out;                            // where the model was written
};

// Trains (and saves) the reward model. `reference` (may be empty) is the normalisation reference
// set; empty = the training records' responses. `eval` (may be empty) is scored at the end.
RewardTrainResult train_reward_model(const RewardTrainConfig& cfg, const std::vector<data::PreferenceGroup>& train,
                                     const std::vector<data::PreferenceGroup>& eval = {},
                                     const std::vector<data::PreferenceGroup>& reference = {});

// Flags of `rlhf rm train` that map onto RewardTrainConfig (the shared TrainConfig flags included).
void add_reward_train_flags(Flags& f);
RewardTrainConfig reward_train_config_from_flags(const Flags& f);

// Raw reward mean/std (population) of `net` over every response of `groups` (at most max_items).
RewardStats measure_reward_stats(RewardModel& model, int member, const std::vector<data::PreferenceGroup>& groups,
                                 int64_t max_items, const std::string& label);

}  // namespace rlhf::reward
