// Held-out evaluation of a policy against its reference (the SFT model): one sampled response
// per prompt from each (common random numbers: the same sampler seed), gold-judge scores, the
// per-prompt gold delta with a paired bootstrap interval, the win rate, the policy's KL to the
// reference, and the reward model's mean score. This is summary.json's "ppo" object.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/rl/ppo_trainer.h"
#include "rlhf/rl/reward_fn.h"

namespace rlhf::rl {

struct PolicyEvalResult {
  std::vector<double> gold_policy, gold_ref;  // per prompt: gold of the policy's / reference's response
  std::vector<double> rm_policy;              // per prompt: reward (score) of the policy's response; empty without rm
  std::vector<double> kl;                     // per prompt: sum_t (log pi - log ref) of the policy's response (k1)
  std::vector<std::string> prompts, responses_policy, responses_ref;
  double kl_target = 0;                       // the run's target KL (0 = fixed beta)
  // {"gold_mean", "gold_ci95", "sft_gold_mean", "gold_delta_vs_sft", "gold_delta_ci95", "win_rate_vs_sft",
  //  "win_rate_ci95", "kl", "kl_target", "rm_mean", "n"}; intervals are [lo, hi] from 1000 seeded
  // bootstrap resamples over prompts (the delta's resamples prompts as pairs).
  nlohmann::json summary() const;
};

// Samples one response per prompt from the trainer's policy and its reference with the same
// seed, judges both with the world's gold judge, scores the policy's with `rm` (optional).
PolicyEvalResult evaluate_vs_reference(PpoTrainer& t, const std::vector<std::string>& prompts, RewardFn* rm,
                                       uint64_t seed);

}  // namespace rlhf::rl
