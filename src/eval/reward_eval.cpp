// Reward-model evaluation metrics computed from per-response scores (see reward_eval.h).
#include "rlhf/eval/reward_eval.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "rlhf/io/error.h"

namespace rlhf::eval {

namespace {
double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

RewardEvalResult evaluate_rewards(const std::vector<data::PreferenceGroup>& groups,
                                  const std::vector<std::vector<double>>& scores,
                                  const std::vector<std::vector<double>>& stds) {
  if (scores.size() != groups.size())
    throw Error("evaluate_rewards: " + std::to_string(scores.size()) + " score rows for " +
                std::to_string(groups.size()) + " records");
  RewardEvalResult r;
  r.groups = static_cast<int64_t>(groups.size());
  double correct = 0, margin_sum = 0, longer = 0, shorter = 0;
  std::vector<double> probs, outcomes, gold, reward;
  bool all_gold = !groups.empty();
  double std_sum = 0;
  int64_t std_n = 0;
  const double gap_edges[] = {0.0, 0.3, 0.7, -1.0};
  std::vector<double> gap_correct(3, 0.0);
  std::vector<int64_t> gap_n(3, 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& grp = groups[g];
    const auto& s = scores[g];
    if (s.size() != grp.responses.size())
      throw Error(grp.where + ": " + std::to_string(s.size()) + " scores for " + std::to_string(grp.responses.size()) +
                  " responses");
    for (size_t i = 0; i < s.size(); ++i)
      for (size_t j = i + 1; j < s.size(); ++j) {
        if (grp.level[i] == grp.level[j]) {
          ++r.tie_pairs;
          continue;
        }
        size_t b = grp.level[i] < grp.level[j] ? i : j, w = b == i ? j : i;
        double d = s[b] - s[w];
        correct += d > 0 ? 1.0 : d == 0 ? 0.5 : 0.0;
        margin_sum += d;
        // Both orientations, so the outcomes are not all 1 and ECE measures calibration.
        probs.push_back(sigmoid(d)), outcomes.push_back(1.0);
        probs.push_back(sigmoid(-d)), outcomes.push_back(0.0);
        size_t lb = grp.responses[b].size(), lw = grp.responses[w].size();
        longer += lb > lw ? 1.0 : lb == lw ? 0.5 : 0.0;
        shorter += lb < lw ? 1.0 : lb == lw ? 0.5 : 0.0;
        ++r.n;
        if (grp.gold.size() == s.size()) {
          double gap = std::fabs(grp.gold[b] - grp.gold[w]);
          int k = gap < gap_edges[1] ? 0 : gap < gap_edges[2] ? 1 : 2;
          gap_correct[k] += d > 0 ? 1.0 : d == 0 ? 0.5 : 0.0;
          ++gap_n[k];
        }
      }
    if (grp.gold.size() == s.size()) {
      gold.insert(gold.end(), grp.gold.begin(), grp.gold.end());
      reward.insert(reward.end(), s.begin(), s.end());
    } else {
      all_gold = false;
    }
    if (!stds.empty()) {
      for (double v : stds.at(g)) std_sum += v, ++std_n;
    }
  }
  r.accuracy = wilson_interval(correct, r.n);
  if (r.n) {
    r.mean_margin = margin_sum / r.n;
    r.length_longer_accuracy = longer / r.n;
    r.length_shorter_accuracy = shorter / r.n;
    r.ece = expected_calibration_error(probs, outcomes, 10);
  }
  r.has_gold = all_gold && !gold.empty();
  r.gold_n = static_cast<int64_t>(gold.size());
  if (!gold.empty()) {
    r.pearson = pearson(reward, gold);
    r.spearman = spearman(reward, gold);
  }
  if (std_n) r.mean_std = std_sum / std_n;
  if (gap_n[0] + gap_n[1] + gap_n[2] > 0)
    for (int k = 0; k < 3; ++k)
      r.by_gold_gap.push_back({gap_edges[k], gap_edges[k + 1], gap_n[k], gap_n[k] ? gap_correct[k] / gap_n[k] : 0.0});
  return r;
}

nlohmann::json RewardEvalResult::to_json() const {
  nlohmann::json j = {{"n", n},
                      {"records", groups},
                      {"tie_pairs", tie_pairs},
                      {"accuracy", accuracy.value},
                      {"accuracy_ci95", {accuracy.lo, accuracy.hi}},
                      {"mean_margin", mean_margin},
                      {"ece", ece},
                      {"length_longer_accuracy", length_longer_accuracy},
                      {"length_shorter_accuracy", length_shorter_accuracy}};
  if (gold_n) {
    j["pearson"] = pearson;
    j["spearman"] = spearman;
    j["gold_n"] = gold_n;
  }
  if (mean_std >= 0) j["mean_ensemble_std"] = mean_std;
  if (!by_gold_gap.empty()) {
    nlohmann::json b = nlohmann::json::array();
    for (const auto& g : by_gold_gap)
      b.push_back({{"min_gap", g.min_gap},
                   {"max_gap", g.max_gap < 0 ? nlohmann::json(nullptr) : nlohmann::json(g.max_gap)},
                   {"n", g.n},
                   {"accuracy", g.accuracy}});
    j["accuracy_by_gold_gap"] = b;
  }
  return j;
}

std::string RewardEvalResult::table() const {
  std::ostringstream os;
  os << std::fixed << std::setprecision(3);
  auto row = [&](const std::string& k) -> std::ostream& { return os << "  " << std::left << std::setw(28) << k; };
  os << "reward model evaluation: " << n << " pairs from " << groups << " records";
  if (tie_pairs) os << " (" << tie_pairs << " tied pairs left out)";
  os << "\n";
  row("pairwise accuracy") << accuracy.value << "  [95% CI " << accuracy.lo << ", " << accuracy.hi << "]\n";
  row("mean margin") << mean_margin << "\n";
  row("ECE (10 bins)") << ece << "\n";
  row("baseline: prefer longer") << length_longer_accuracy << "\n";
  row("baseline: prefer shorter") << length_shorter_accuracy << "\n";
  if (gold_n) {
    row("Pearson vs gold") << pearson << "  (" << gold_n << " responses)\n";
    row("Spearman vs gold") << spearman << "\n";
  }
  if (mean_std >= 0) row("mean ensemble std") << mean_std << "\n";
  for (const auto& g : by_gold_gap) {
    std::ostringstream k;
    k << std::fixed << std::setprecision(1) << "accuracy, gold gap " << g.min_gap;
    if (g.max_gap >= 0)
      k << "-" << g.max_gap;
    else
      k << "+";
    row(k.str()) << g.accuracy << "  (" << g.n << " pairs)\n";
  }
  return os.str();
}

}  // namespace rlhf::eval
