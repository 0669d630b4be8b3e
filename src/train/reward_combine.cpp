// Combination rules for several reward models: weighted sum and Llama-2 safety gating.
#include "rlhf/reward/combine.h"

#include "rlhf/io/error.h"

namespace rlhf::reward {

void CombineSpec::validate(int models) const {
  if (models < 1) throw Error("--combine: no reward models given");
  if (rule == "sum") {
    if (!weights.empty() && static_cast<int>(weights.size()) != models)
      throw Error("--weights: " + std::to_string(weights.size()) + " weights for " + std::to_string(models) +
                  " reward models (give one per --model)");
  } else if (rule == "gate") {
    if (models < 2) throw Error("--combine gate needs two reward models (helpful, then safety)");
    if (helpful_index < 0 || helpful_index >= models || safety_index < 0 || safety_index >= models ||
        helpful_index == safety_index)
      throw Error("--combine gate: helpful and safety indices must name two different models (0.." +
                  std::to_string(models - 1) + ")");
  } else {
    throw Error("--combine: unknown rule \"" + rule + "\" (allowed: sum, gate)");
  }
}

std::vector<double> combine_rewards(const std::vector<std::vector<double>>& per_model, const CombineSpec& spec,
                                    const std::vector<bool>& unsafe) {
  int m = static_cast<int>(per_model.size());
  spec.validate(m);
  size_t n = per_model[0].size();
  for (const auto& v : per_model)
    if (v.size() != n) throw Error("combine_rewards: the reward models scored different numbers of items");
  if (!unsafe.empty() && unsafe.size() != n) throw Error("combine_rewards: one unsafe flag per item expected");
  std::vector<double> out(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    if (spec.rule == "sum") {
      for (int k = 0; k < m; ++k) out[i] += (spec.weights.empty() ? 1.0 : spec.weights[k]) * per_model[k][i];
    } else {
      double s = per_model[spec.safety_index][i];
      bool gate = s < spec.threshold || (!unsafe.empty() && unsafe[i]);
      out[i] = gate ? s : per_model[spec.helpful_index][i];
    }
  }
  return out;
}

}  // namespace rlhf::reward
