// Building a policy-optimisation run from flags: declares every PPO flag once (shared by
// `rlhf ppo` and the pipeline's stage), loads the policy/reference/value/reward models, the
// rule-based rewards and the PPO-ptx data, and returns a ready PpoTrainer.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rlhf/rl/ppo_trainer.h"
#include "rlhf/rl/reward_fn.h"
#include "rlhf/util/flags.h"

namespace rlhf::rl {

// What the models and rewards come from.
struct PpoSources {
  std::string policy;                  // SFT checkpoint: the policy (and the frozen reference unless `reference`)
  std::string reference;               // frozen reference checkpoint; "" = a copy of `policy`
  std::vector<std::string> rewards;    // reward-model folders (combined by `combine`)
  std::string combine = "sum";         // sum | gate
  std::vector<double> reward_weights;  // sum: one per reward model (empty = all 1)
  double gate_threshold = 0.15;        // gate: safety score below which it is used
  double rm_weight = 1.0;              // weight of the (combined) reward models in the total
  std::string rules;                   // rule-language file (rules.h); "" = none
  double rules_weight = 1.0;           // its weight in the total
  bool gold_reward = false;            // add the world's gold judge as a reward component
  double gold_weight = 1.0;            // its weight
  std::string value_init;              // value model init: "" = the first reward model, else the policy; or a folder
  std::string ptx_data;                // PPO-ptx: SFT JSONL ({"prompt","response"}); "" = none
};

// Declares the PPO flags (PpoConfig, optimiser, sources) on `f`.
void add_ppo_flags(Flags& f);
PpoConfig ppo_config_from_flags(const Flags& f);
TrainConfig ppo_train_config_from_flags(const Flags& f);
PpoSources ppo_sources_from_flags(const Flags& f);

struct PpoSetup {
  std::unique_ptr<PpoTrainer> trainer;
  std::shared_ptr<RewardFn> rm;  // the reward models alone (for evaluation's rm_mean); null without --reward
  std::string value_from;        // where the value model came from
};
// Loads everything and builds the trainer.
PpoSetup build_ppo(const PpoConfig& cfg, const TrainConfig& opt, const PpoSources& src);

}  // namespace rlhf::rl
