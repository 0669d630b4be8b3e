// Tests for the shared evaluation statistics against values computed by hand (worked in comments).
#include <gtest/gtest.h>

#include <cmath>

#include "rlhf/eval/metrics.h"
#include "rlhf/io/error.h"

using namespace rlhf::eval;

TEST(Metrics, WilsonIntervalMatchesHandComputation) {
  // p = 0.8, n = 10, z = 1.96: denom = 1 + 3.8416/10 = 1.38416; centre = (0.8 + 0.19208)/denom = 0.716737;
  // half = 1.96 * sqrt(0.016 + 0.009604)/denom = 0.226581 -> [0.490156, 0.943318].
  Interval w = wilson_interval(8, 10, 1.96);
  EXPECT_DOUBLE_EQ(w.value, 0.8);
  EXPECT_NEAR(w.lo, 0.490156, 1e-5);
  EXPECT_NEAR(w.hi, 0.943318, 1e-5);
  EXPECT_EQ(w.n, 10);
  // All successes: the upper bound is 1 and the lower bound n/(n+z^2) = 10/13.8416 = 0.722460.
  Interval all = wilson_interval(10, 10, 1.96);
  EXPECT_NEAR(all.hi, 1.0, 1e-12);
  EXPECT_NEAR(all.lo, 0.722460, 1e-5);
  Interval none = wilson_interval(0, 0);
  EXPECT_EQ(none.lo, 0.0);
  EXPECT_EQ(none.hi, 1.0);
  EXPECT_THROW(wilson_interval(11, 10), rlhf::Error);
}

TEST(Metrics, BootstrapIsSeededAndSensible) {
  std::vector<double> same(50, 0.7);
  Interval c = bootstrap_mean_interval(same, 200, 1);
  EXPECT_DOUBLE_EQ(c.lo, 0.7);
  EXPECT_DOUBLE_EQ(c.hi, 0.7);
  // 400 fair coin flips: the interval is about +-1.96*sqrt(0.25/400) = +-0.049 around 0.5.
  std::vector<double> coin(400);
  for (size_t i = 0; i < coin.size(); ++i) coin[i] = i % 2;
  Interval a = bootstrap_mean_interval(coin, 2000, 7);
  Interval b = bootstrap_mean_interval(coin, 2000, 7);
  Interval d = bootstrap_mean_interval(coin, 2000, 8);
  EXPECT_EQ(a.lo, b.lo);
  EXPECT_EQ(a.hi, b.hi);
  EXPECT_TRUE(a.lo != d.lo || a.hi != d.hi);
  EXPECT_DOUBLE_EQ(a.value, 0.5);
  EXPECT_NEAR(a.hi - a.value, 0.049, 0.01);
  EXPECT_NEAR(a.value - a.lo, 0.049, 0.01);
  EXPECT_EQ(a.n, 400);
}

TEST(Metrics, MeanAndStd) {
  EXPECT_DOUBLE_EQ(mean({1, 2, 3, 6}), 3.0);
  // deviations -2,-1,0,3 -> ss = 14, / 3 -> sqrt(14/3)
  EXPECT_NEAR(stddev({1, 2, 3, 6}), std::sqrt(14.0 / 3.0), 1e-12);
  EXPECT_EQ(stddev({5}), 0.0);
}

TEST(Metrics, ExpectedCalibrationError) {
  std::vector<double> p = {0.1, 0.2, 0.8, 0.9}, o = {0, 1, 1, 1};
  // 10 bins: one item per bin: (0.1 + 0.8 + 0.2 + 0.1) / 4 = 0.3.
  EXPECT_NEAR(expected_calibration_error(p, o, 10), 0.3, 1e-12);
  // 2 bins: [0.1, 0.2] mean p 0.15 vs 0.5 -> 0.35; [0.8, 0.9] 0.85 vs 1 -> 0.15; (0.35 + 0.15)/2 = 0.25.
  EXPECT_NEAR(expected_calibration_error(p, o, 2), 0.25, 1e-12);
  // Perfectly calibrated: p = 0.5 and half the outcomes happen.
  EXPECT_NEAR(expected_calibration_error({0.5, 0.5}, {1, 0}, 10), 0.0, 1e-12);
  // p = 1 lands in the last bin.
  EXPECT_NEAR(expected_calibration_error({1.0}, {0.0}, 10), 1.0, 1e-12);
  EXPECT_THROW(expected_calibration_error({0.5}, {1, 0}, 10), rlhf::Error);
  EXPECT_THROW(expected_calibration_error({1.5}, {1}, 10), rlhf::Error);
}

TEST(Metrics, AverageRanks) {
  std::vector<double> r = average_ranks({10, 20, 20, 30});
  EXPECT_EQ(r, (std::vector<double>{1, 2.5, 2.5, 4}));
  r = average_ranks({3, 1, 2});
  EXPECT_EQ(r, (std::vector<double>{3, 1, 2}));
  r = average_ranks({5, 5, 5});
  EXPECT_EQ(r, (std::vector<double>{2, 2, 2}));
}

TEST(Metrics, PearsonAndSpearman) {
  // x = 1,2,3; y = 2,4,7: sxy = 5, sxx = 2, syy = 114/9 -> 5 / sqrt(2 * 114/9) = 0.993399.
  EXPECT_NEAR(pearson({1, 2, 3}, {2, 4, 7}), 0.993399, 1e-6);
  EXPECT_NEAR(pearson({1, 2, 3}, {3, 2, 1}), -1.0, 1e-12);
  EXPECT_EQ(pearson({1, 1, 1}, {1, 2, 3}), 0.0);  // constant side: no correlation reported
  // Spearman without ties: 1 - 6*sum d^2/(n(n^2-1)) = 1 - 6*2/60 = 0.8.
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-12);
  // Monotone but not linear: Spearman 1, Pearson below 1.
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 10, 100, 1000}), 1.0, 1e-12);
  EXPECT_LT(pearson({1, 2, 3, 4}, {1, 10, 100, 1000}), 0.9);
  // Ties: ranks x = 1, 2.5, 2.5, 4 vs 1..4: sxy = 4.5, sxx = 4.5, syy = 5 -> 4.5/sqrt(22.5) = 0.948683.
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 2, 3, 4}), 0.948683, 1e-6);
  EXPECT_THROW(spearman({1, 2}, {1}), rlhf::Error);
}
