// Combination of several reward models: weighted sum and Llama-2 gating, by hand.
#include <gtest/gtest.h>

#include "rlhf/io/error.h"
#include "rlhf/reward/combine.h"

using namespace rlhf::reward;

TEST(RewardCombine, WeightedSum) {
  CombineSpec s;
  s.weights = {0.5, 2.0};
  // 0.5*1 + 2*3 = 6.5; 0.5*2 + 2*(-1) = -1
  EXPECT_EQ(combine_rewards({{1, 2}, {3, -1}}, s), (std::vector<double>{6.5, -1.0}));
  s.weights.clear();
  EXPECT_EQ(combine_rewards({{1, 2}, {3, -1}}, s), (std::vector<double>{4.0, 1.0}));
  s.weights = {1.0};
  EXPECT_THROW(combine_rewards({{1}, {2}}, s), rlhf::Error);
}

TEST(RewardCombine, SafetyGate) {
  CombineSpec s;
  s.rule = "gate";
  s.threshold = 0.0;
  // item 0: safety 0.5 >= 0 -> helpful 1; item 1: safety -1 < 0 -> -1; item 2 forced unsafe -> safety 0.3
  EXPECT_EQ(combine_rewards({{1, 2, 5}, {0.5, -1, 0.3}}, s, {false, false, true}),
            (std::vector<double>{1, -1, 0.3}));
  s.safety_index = 0;
  s.helpful_index = 1;
  EXPECT_EQ(combine_rewards({{0.5, -1}, {1, 2}}, s), (std::vector<double>{1, -1}));
  s.rule = "max";
  EXPECT_THROW(combine_rewards({{1}, {2}}, s), rlhf::Error);
}
