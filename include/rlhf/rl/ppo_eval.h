// Held-out evaluation of a policy against its reference (the SFT model): `samples` sampled
// responses per prompt from each (common random numbers: the same sampler seed), gold-judge
// scores averaged per prompt, the per-prompt gold delta with a paired bootstrap interval, the win
// rate, the policy's KL to the reference, and the reward model's mean score. This is
// summary.json's "ppo" object.
//
// Temperature: the headline figures sample at the run's training temperature (1 by default: the
// policy's own distribution, which is what PPO optimises and what the KL is defined on); a
// second, greedy pass (temperature 0, one response per prompt) gives the "greedy" block, on the
// scale of the pipeline's greedy eval stage.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/rl/ppo_trainer.h"
#include "rlhf/rl/reward_fn.h"

namespace rlhf::rl {

struct PolicyEvalResult {
  // Per prompt (means over its samples): gold of the policy's / reference's responses, the policy's
  // win rate (ties 1/2), reward (score) of the policy's responses (empty without rm), and
  // sum_t (log pi - log ref) of the policy's responses (k1; empty unless sampled at temperature 1).
  std::vector<double> gold_policy, gold_ref, win, rm_policy, kl;
  std::vector<std::string> prompts, responses_policy, responses_ref;  // the first sample per prompt
  double kl_target = 0;                       // the run's target KL (0 = fixed beta)
  double temperature = 1;                     // sampling temperature of this evaluation (0 = greedy)
  int64_t samples = 1;                        // responses per prompt and model
  // {"gold_mean", "gold_ci95", "sft_gold_mean", "gold_delta_vs_sft", "gold_delta_ci95", "win_rate_vs_sft",
  //  "win_rate_ci95", "kl", "kl_target", "rm_mean", "n", "temperature", "samples_per_prompt"}; intervals
  // are [lo, hi] from 1000 seeded bootstrap resamples over prompts (the delta's resamples prompts as pairs).
  nlohmann::json summary() const;
};

// Samples `samples` responses per prompt from the trainer's policy and its reference with the
// same seed at `temperature` (< 0: the run's sampling temperature; 0: greedy, one response),
// judges them with the world's gold judge, scores the policy's with `rm` (optional).
PolicyEvalResult evaluate_vs_reference(PpoTrainer& t, const std::vector<std::string>& prompts, RewardFn* rm,
                                       uint64_t seed, double temperature = -1, int64_t samples = 1);

// The held-out summary every PPO run reports: evaluate_vs_reference at the run's temperature with
// cfg.eval_samples responses per prompt, plus "greedy": the same comparison with greedy decoding
// (no "kl": greedy responses are not samples of the policy).
nlohmann::json evaluate_summary(PpoTrainer& t, const std::vector<std::string>& prompts, RewardFn* rm, uint64_t seed);

}  // namespace rlhf::rl
