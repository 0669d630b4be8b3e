// The reward interface PPO/RLOO/GRPO optimise: a batched function from (prompt text, response
// text, finished flag) to one score per item. Reward models, the world's gold judge, rule-based
// rewards and plain C++ callbacks all plug in through it, and a weighted sum combines several.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rlhf::rl {

// One item to score. `finished` is false when the response hit the length limit without an end
// token (the response text then stops mid-way).
struct RewardQuery {
  std::string prompt;    // dialogue-format prompt ("\n\nHuman: ...\n\nAssistant:")
  std::string response;  // the assistant turn as generated (leading space kept, no EOS text)
  bool finished = true;
};

// Scores of one batch: `score` is what the optimiser sees (normalised when the source has
// normalisation statistics), `raw` the unnormalised value (equal to score for most sources).
struct RewardScores {
  std::vector<double> score;
  std::vector<double> raw;
};

class RewardFn {
 public:
  virtual ~RewardFn() = default;
  virtual RewardScores score(const std::vector<RewardQuery>& batch) = 0;
  virtual std::string name() const = 0;
};

// A C++ callback as a reward (raw == score).
class CallbackReward : public RewardFn {
 public:
  using Fn = std::function<double(const RewardQuery&)>;
  CallbackReward(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  RewardScores score(const std::vector<RewardQuery>& batch) override;
  std::string name() const override { return name_; }

 private:
  std::string name_;
  Fn fn_;
};

// The embedded world's gold judge used directly as the reward (shows the optimiser works
// independently of any learned reward model). Score = gold in [-1, 1].
std::shared_ptr<RewardFn> make_gold_judge_reward();

// Weighted sum of components: score = sum_i w_i * score_i, raw = sum_i w_i * raw_i. The last
// batch's per-component means are kept for logging ("reward/<name>").
class SumReward : public RewardFn {
 public:
  void add(std::shared_ptr<RewardFn> fn, double weight);
  RewardScores score(const std::vector<RewardQuery>& batch) override;
  std::string name() const override;
  size_t size() const { return parts_.size(); }
  // Mean score of each component over the last batch, in add() order.
  const std::vector<std::pair<std::string, double>>& last_means() const { return last_means_; }

 private:
  std::vector<std::pair<std::shared_ptr<RewardFn>, double>> parts_;
  std::vector<std::pair<std::string, double>> last_means_;
};

}  // namespace rlhf::rl
