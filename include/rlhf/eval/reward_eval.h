// Reward-model evaluation from scores alone: pairwise accuracy with a 95% Wilson interval, mean
// margin, calibration (ECE of σ(r_a - r_b)), correlation with gold scores, and the length-only
// baselines (always prefer the longer / the shorter response) on the same pairs.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/data/preference.h"
#include "rlhf/eval/metrics.h"

namespace rlhf::eval {

struct RewardEvalResult {
  int64_t n = 0;                  // strict pairs evaluated (all C(K,2) pairs of rankings, ties left out)
  int64_t groups = 0;             // records
  int64_t tie_pairs = 0;          // pairs labelled as ties (not in accuracy)
  Interval accuracy;              // r_better > r_worse (equal rewards count ½), Wilson 95%
  double mean_margin = 0.0;       // mean of r_better - r_worse
  double ece = 0.0;               // ECE (10 bins) of σ(r_a - r_b) against the label, both orientations
  double length_longer_accuracy = 0.0;   // "prefer the longer response" (equal lengths count ½)
  double length_shorter_accuracy = 0.0;  // "prefer the shorter response"
  bool has_gold = false;          // every evaluated record carried gold scores
  int64_t gold_n = 0;             // responses with a gold score
  double pearson = 0.0;           // reward vs gold, over responses
  double spearman = 0.0;
  double mean_std = -1.0;         // mean ensemble disagreement (std) per response; -1 when not given
  // Accuracy of the strict pairs whose records carry gold scores, by |gold_better - gold_worse|:
  // buckets [0, 0.3), [0.3, 0.7), [0.7, inf) (on the world's gold scale in [-1, 1]). Empty without gold.
  struct GapBucket {
    double min_gap = 0.0, max_gap = 0.0;  // max_gap < 0: no upper bound
    int64_t n = 0;
    double accuracy = 0.0;  // equal rewards count ½
  };
  std::vector<GapBucket> by_gold_gap;

  nlohmann::json to_json() const;  // accuracy, accuracy_ci95, ece, length_*_accuracy, n, [pearson, spearman,
                                   // accuracy_by_gold_gap]
  std::string table() const;       // readable multi-line summary
};

// scores[g][i] is the reward of groups[g].responses[i]; stds (optional, same shape) the ensemble std.
// Lengths are in bytes of the response text.
RewardEvalResult evaluate_rewards(const std::vector<data::PreferenceGroup>& groups,
                                  const std::vector<std::vector<double>>& scores,
                                  const std::vector<std::vector<double>>& stds = {});

}  // namespace rlhf::eval
