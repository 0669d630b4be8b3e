// Reward models as a RewardFn: batched scoring, normalisation, combination.
#include "rlhf/rl/rm_reward.h"

#include <torch/torch.h>

#include "rlhf/io/error.h"

namespace rlhf::rl {

RewardModelReward::RewardModelReward(std::vector<std::shared_ptr<reward::RewardModel>> models,
                                     reward::CombineSpec spec, bool normalize, int64_t batch_size)
    : models_(std::move(models)), spec_(std::move(spec)), normalize_(normalize), batch_size_(batch_size) {
  if (models_.empty()) throw Error("RewardModelReward: no reward model");
  spec_.validate(static_cast<int>(models_.size()));
}

std::shared_ptr<RewardModelReward> RewardModelReward::load(const std::vector<std::string>& dirs,
                                                           reward::CombineSpec spec, bool normalize) {
  std::vector<std::shared_ptr<reward::RewardModel>> ms;
  for (const auto& d : dirs) ms.push_back(std::make_shared<reward::RewardModel>(reward::RewardModel::load(d)));
  return std::make_shared<RewardModelReward>(std::move(ms), std::move(spec), normalize);
}

RewardScores RewardModelReward::score(const std::vector<RewardQuery>& batch) {
  torch::NoGradGuard ng;
  std::vector<std::string> prompts, responses;
  for (const auto& q : batch) prompts.push_back(q.prompt), responses.push_back(q.response);
  std::vector<std::vector<double>> raw, norm;
  for (auto& m : models_) {
    reward::Scores s = m->score(prompts, responses, batch_size_);
    raw.push_back(s.mean);
    norm.push_back(s.normalized);
  }
  RewardScores out;
  out.raw = reward::combine_rewards(raw, spec_);
  out.score = normalize_ ? reward::combine_rewards(norm, spec_) : out.raw;
  return out;
}

}  // namespace rlhf::rl
