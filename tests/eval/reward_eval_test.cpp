// Reward-model evaluation against hand-computed accuracy, margin, ECE and length baselines.
#include <gtest/gtest.h>

#include "rlhf/eval/reward_eval.h"
#include "rlhf/io/error.h"

using namespace rlhf;

namespace {
data::PreferenceGroup grp(std::vector<std::string> r, std::vector<int> level, std::vector<double> gold) {
  data::PreferenceGroup g;
  g.prompt = "P";
  g.responses = std::move(r);
  g.level = std::move(level);
  g.gold = std::move(gold);
  g.where = "t:1";
  return g;
}
}  // namespace

TEST(RewardEval, HandComputedFigures) {
  std::vector<data::PreferenceGroup> groups = {
      grp({" long answer", " no"}, {0, 1}, {0.9, 0.1}),
      grp({" a", " bbbb"}, {0, 1}, {0.5, 0.7}),
      grp({" x", " yy", " zzz"}, {0, 1, 2}, {1, 0.5, 0}),
      grp({" p", " q"}, {0, 0}, {0.2, 0.2}),
  };
  std::vector<std::vector<double>> scores = {{1, 0}, {0, 2}, {3, 2, 1}, {0, 0}};
  auto r = eval::evaluate_rewards(groups, scores);
  // Pairs: d = 1, -2, 1, 2, 1 -> 4 of 5 right; the tie is left out.
  EXPECT_EQ(r.n, 5);
  EXPECT_EQ(r.tie_pairs, 1);
  EXPECT_DOUBLE_EQ(r.accuracy.value, 0.8);
  auto w = eval::wilson_interval(4, 5);
  EXPECT_DOUBLE_EQ(r.accuracy.lo, w.lo);
  EXPECT_DOUBLE_EQ(r.accuracy.hi, w.hi);
  EXPECT_NEAR(r.mean_margin, 0.6, 1e-12);
  // Longer response preferred in 1 of 5 pairs (the first), the shorter in the other 4.
  EXPECT_NEAR(r.length_longer_accuracy, 0.2, 1e-12);
  EXPECT_NEAR(r.length_shorter_accuracy, 0.8, 1e-12);
  // ECE, both orientations: bins 7 and 2 hold σ(±1) (3 each, error 0.268941); bins 1 and 8 hold
  // σ(±2) with one hit and one miss each (error 0.380797): 0.6*0.268941 + 0.4*0.380797.
  EXPECT_NEAR(r.ece, 0.6 * 0.2689414 + 0.4 * 0.3807971, 1e-6);
  ASSERT_TRUE(r.has_gold);
  std::vector<double> rew = {1, 0, 0, 2, 3, 2, 1, 0, 0}, gold = {0.9, 0.1, 0.5, 0.7, 1, 0.5, 0, 0.2, 0.2};
  EXPECT_NEAR(r.pearson, eval::pearson(rew, gold), 1e-12);
  EXPECT_NEAR(r.spearman, eval::spearman(rew, gold), 1e-12);
  auto j = r.to_json();
  for (const char* k : {"accuracy", "accuracy_ci95", "ece", "length_longer_accuracy", "length_shorter_accuracy", "n",
                        "pearson", "spearman"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NE(r.table().find("pairwise accuracy"), std::string::npos);
}

TEST(RewardEval, AccuracyByGoldGap) {
  std::vector<data::PreferenceGroup> groups = {
      grp({" long answer", " no"}, {0, 1}, {0.9, 0.1}),     // gap 0.8, right
      grp({" a", " bbbb"}, {0, 1}, {0.5, 0.7}),             // gap 0.2, wrong
      grp({" x", " yy", " zzz"}, {0, 1, 2}, {1, 0.5, 0}),   // gaps 0.5 right, 1.0 right, 0.5 tied reward
      grp({" p", " q"}, {0, 1}, {}),                        // no gold: not bucketed
  };
  auto r = eval::evaluate_rewards(groups, {{1, 0}, {0, 2}, {3, 2, 2}, {1, 0}});
  EXPECT_EQ(r.n, 6);
  ASSERT_EQ(r.by_gold_gap.size(), 3u);
  EXPECT_EQ(r.by_gold_gap[0].n, 1);
  EXPECT_DOUBLE_EQ(r.by_gold_gap[0].accuracy, 0.0);
  EXPECT_EQ(r.by_gold_gap[1].n, 2);
  EXPECT_DOUBLE_EQ(r.by_gold_gap[1].accuracy, 0.75);  // 1 + ½ for the equal rewards
  EXPECT_DOUBLE_EQ(r.by_gold_gap[1].min_gap, 0.3);
  EXPECT_DOUBLE_EQ(r.by_gold_gap[1].max_gap, 0.7);
  EXPECT_EQ(r.by_gold_gap[2].n, 2);
  EXPECT_DOUBLE_EQ(r.by_gold_gap[2].accuracy, 1.0);
  auto j = r.to_json();
  ASSERT_TRUE(j.contains("accuracy_by_gold_gap"));
  EXPECT_TRUE(j["accuracy_by_gold_gap"][2]["max_gap"].is_null());
  EXPECT_NE(r.table().find("gold gap 0.3-0.7"), std::string::npos);
  // Without gold scores there are no buckets.
  EXPECT_TRUE(eval::evaluate_rewards({groups[3]}, {{1, 0}}).by_gold_gap.empty());
}

TEST(RewardEval, EqualRewardsAndLengthsCountHalf) {
  std::vector<data::PreferenceGroup> groups = {grp({" ab", " cd"}, {0, 1}, {})};
  auto r = eval::evaluate_rewards(groups, {{0.5, 0.5}});
  EXPECT_DOUBLE_EQ(r.accuracy.value, 0.5);
  EXPECT_DOUBLE_EQ(r.length_longer_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.length_shorter_accuracy, 0.5);
  EXPECT_FALSE(r.has_gold);
  EXPECT_FALSE(r.to_json().contains("pearson"));
  EXPECT_THROW(eval::evaluate_rewards(groups, {{0.5}}), rlhf::Error);
}
