// Learned reward models behind the RewardFn interface: one or more reward-model folders (single
// models or ensembles), each scored in batches, normalised by its stored statistics, and
// combined by the reward part's rule (weighted sum or Llama-2 gating).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rlhf/reward/combine.h"
#include "rlhf/reward/reward_model.h"
#include "rlhf/rl/reward_fn.h"

namespace rlhf::rl {

class RewardModelReward : public RewardFn {
 public:
  // normalize: score = combine((r - mean) / std per model), else combine(raw). raw is always
  // combine(raw). Models are scored `batch_size` items at a time.
  RewardModelReward(std::vector<std::shared_ptr<reward::RewardModel>> models, reward::CombineSpec spec,
                    bool normalize, int64_t batch_size = 32);
  // Loads each folder with reward::RewardModel::load.
  static std::shared_ptr<RewardModelReward> load(const std::vector<std::string>& dirs, reward::CombineSpec spec,
                                                 bool normalize);
  RewardScores score(const std::vector<RewardQuery>& batch) override;
  std::string name() const override { return "rm"; }
  const std::vector<std::shared_ptr<reward::RewardModel>>& models() const { return models_; }

 private:
  std::vector<std::shared_ptr<reward::RewardModel>> models_;
  reward::CombineSpec spec_;
  bool normalize_;
  int64_t batch_size_;
};

}  // namespace rlhf::rl
