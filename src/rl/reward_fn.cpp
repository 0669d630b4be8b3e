// Reward sources behind the RewardFn interface: callbacks, the gold judge, weighted sums.
#include "rlhf/rl/reward_fn.h"

#include "rlhf/io/error.h"
#include "rlhf/world/judge.h"

namespace rlhf::rl {

RewardScores CallbackReward::score(const std::vector<RewardQuery>& batch) {
  RewardScores s;
  for (const auto& q : batch) s.score.push_back(fn_(q));
  s.raw = s.score;
  return s;
}

std::shared_ptr<RewardFn> make_gold_judge_reward() {
  return std::make_shared<CallbackReward>("gold", [](const RewardQuery& q) {
    return world::judge(q.prompt, q.response).gold;
  });
}

void SumReward::add(std::shared_ptr<RewardFn> fn, double weight) {
  if (!fn) throw Error("SumReward: null reward component");
  parts_.emplace_back(std::move(fn), weight);
}

RewardScores SumReward::score(const std::vector<RewardQuery>& batch) {
  if (parts_.empty()) throw Error("no reward given: pass --reward DIR, --rules FILE or --gold-reward");
  RewardScores out;
  out.score.assign(batch.size(), 0.0);
  out.raw.assign(batch.size(), 0.0);
  last_means_.clear();
  for (auto& [fn, w] : parts_) {
    RewardScores s = fn->score(batch);
    if (s.score.size() != batch.size() || s.raw.size() != batch.size())
      throw Error("reward \"" + fn->name() + "\" returned " + std::to_string(s.score.size()) + " scores for " +
                  std::to_string(batch.size()) + " items");
    double m = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      out.score[i] += w * s.score[i];
      out.raw[i] += w * s.raw[i];
      m += s.score[i];
    }
    last_means_.emplace_back(fn->name(), batch.empty() ? 0.0 : m / batch.size());
  }
  return out;
}

std::string SumReward::name() const {
  std::string n;
  for (auto& [fn, w] : parts_) n += (n.empty() ? "" : "+") + fn->name();
  return n;
}

}  // namespace rlhf::rl
