// Combining several reward models (e.g. helpfulness and safety) into one reward by a documented
// rule: a weighted sum, or Llama-2-style gating where the safety score takes over below a
// threshold. Works on per-item scores, so it applies to raw or normalised rewards alike.
#pragma once
#include <string>
#include <vector>

namespace rlhf::reward {

struct CombineSpec {
  std::string rule = "sum";     // "sum": Σ_m weights[m] * r_m;  "gate": see below
  std::vector<double> weights;  // sum: one per model (empty = all 1)
  int helpful_index = 0;        // gate: the model whose score is used when the item is safe
  int safety_index = 1;         // gate: the safety model
  // gate (Llama 2): r = r_safety if r_safety < threshold (or the item is flagged unsafe), else
  // r_helpful. Llama 2 applies 0.15 to sigmoid-scale safety scores; with normalised rewards a
  // threshold in standard deviations (e.g. -1) is the natural choice.
  double threshold = 0.15;
  void validate(int models) const;  // throws rlhf::Error naming the flag
};

// per_model[m][i] = score of item i by model m. unsafe (optional, one per item) forces the safety
// score for items known to be safety-relevant (Llama 2's IS_SAFETY(prompt)).
std::vector<double> combine_rewards(const std::vector<std::vector<double>>& per_model, const CombineSpec& spec,
                                    const std::vector<bool>& unsafe = {});

}  // namespace rlhf::reward
