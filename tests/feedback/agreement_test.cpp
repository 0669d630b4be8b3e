// Agreement maths against hand-computed values: Cohen's kappa, Kendall's W, Bradley-Terry.
#include <gtest/gtest.h>

#include <cmath>

#include "rlhf/feedback/agreement.h"

using namespace rlhf::feedback;

TEST(Agreement, CohenKappaHandComputed) {
  // 10 items, 2 categories. Rater x: 6 of category 0; y: 5 of category 0; they agree on 7.
  // p_o = 0.7; p_e = 0.6*0.5 + 0.4*0.5 = 0.5; kappa = 0.2 / 0.5 = 0.4.
  std::vector<int> x = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
  std::vector<int> y = {0, 0, 0, 0, 1, 1, 0, 1, 1, 1};
  auto k = cohen_kappa(x, y, 2);
  ASSERT_TRUE(k);
  EXPECT_NEAR(*k, 0.4, 1e-12);
  EXPECT_NEAR(*cohen_kappa(x, x, 2), 1.0, 1e-12);
  EXPECT_FALSE(cohen_kappa({1, 1}, {1, 1}, 2));  // p_e = 1: undefined
  EXPECT_FALSE(cohen_kappa({}, {}, 2));
}

TEST(Agreement, AverageRanksShareTies) {
  auto r = average_ranks({0, 1, 1, 2});
  EXPECT_DOUBLE_EQ(r[0], 1);
  EXPECT_DOUBLE_EQ(r[1], 2.5);
  EXPECT_DOUBLE_EQ(r[2], 2.5);
  EXPECT_DOUBLE_EQ(r[3], 4);
}

TEST(Agreement, KendallWHandComputed) {
  // Three raters, three items, identical rankings: W = 1.
  EXPECT_NEAR(*kendall_w({{0, 1, 2}, {0, 1, 2}, {0, 1, 2}}), 1.0, 1e-12);
  // Two raters in opposite order: rank sums all 4 = mean -> S = 0, W = 0.
  EXPECT_NEAR(*kendall_w({{0, 1, 2}, {2, 1, 0}}), 0.0, 1e-12);
  // Rankings (1,2,3), (1,3,2): sums 2, 5, 5; mean 4; S = 4 + 1 + 1 = 6; W = 12*6 / (4 * 24) = 0.75.
  EXPECT_NEAR(*kendall_w({{0, 1, 2}, {0, 2, 1}}), 0.75, 1e-12);
  // With a tie: (1, 2.5, 2.5) and (1, 2, 3): sums 2, 4.5, 5.5; S = 4 + 0.25 + 2.25 = 6.5;
  // T = 2^3 - 2 = 6; W = 12*6.5 / (4*24 - 2*6) = 78 / 84.
  EXPECT_NEAR(*kendall_w({{0, 1, 1}, {0, 1, 2}}), 78.0 / 84.0, 1e-12);
  EXPECT_FALSE(kendall_w({{0, 1}}));
}

TEST(Agreement, BradleyTerryRecoversTheOddsRatio) {
  // A beats B 3 times, B beats A once: the MLE has s_A - s_B = log 3.
  std::vector<BtComparison> c = {{0, 1, 1}, {0, 1, 1}, {0, 1, 1}, {1, 0, 1}};
  auto s = bradley_terry(2, c, 0.0);
  EXPECT_NEAR(s[0] - s[1], std::log(3.0), 1e-6);
  EXPECT_NEAR(s[0] + s[1], 0.0, 1e-9);
  // Weights act like counts.
  auto w = bradley_terry(2, {{0, 1, 3}, {1, 0, 1}}, 0.0);
  EXPECT_NEAR(w[0] - w[1], std::log(3.0), 1e-6);
  // Always winning stays finite with the l2 prior, and keeps the order A > B > C.
  auto t = bradley_terry(3, {{0, 1, 1}, {1, 2, 1}, {0, 2, 1}}, 0.01);
  EXPECT_GT(t[0], t[1]);
  EXPECT_GT(t[1], t[2]);
  EXPECT_TRUE(std::isfinite(t[0]));
}

TEST(Agreement, PairItemsFromLabels) {
  Label p;
  p.task_id = 7;
  p.kind = "pair";
  p.chosen = 2;
  p.rejected = 0;
  p.strength = Strength::Better;
  auto items = pair_items(p);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].a, 0);
  EXPECT_EQ(items[0].b, 2);
  EXPECT_EQ(items[0].outcome, Outcome::Second);
  EXPECT_NEAR(items[0].margin, 2.0 / 3.0, 1e-12);
  p.strength = Strength::BothBad;
  EXPECT_EQ(pair_items(p)[0].outcome, Outcome::BothBad);
  Label r;
  r.kind = "ranking";
  r.ranking = {{2}, {0, 1}};  // 2 best, 0 and 1 tied
  auto ri = pair_items(r);
  ASSERT_EQ(ri.size(), 3u);
  EXPECT_EQ(ri[0].outcome, Outcome::Tie);     // (0, 1)
  EXPECT_EQ(ri[1].outcome, Outcome::Second);  // (0, 2): 2 better
  EXPECT_EQ(ri[2].outcome, Outcome::Second);  // (1, 2)
  EXPECT_DOUBLE_EQ(median({3, 1, 2}), 2);
  EXPECT_DOUBLE_EQ(median({4, 1, 2, 3}), 2.5);
}
