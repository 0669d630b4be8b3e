// The world's PRNG and hash: the published splitmix64 reference value, seeding, and the
// distributions of below/uniform/weighted/shuffle against their expected frequencies.
#include "rlhf/world/rng.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

using namespace rlhf::world;

TEST(Rng, SplitmixReferenceValue) {
  uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFull);  // first output for seed 0 (Vigna's splitmix64.c)
  EXPECT_EQ(state, 0x9E3779B97F4A7C15ull);
}

TEST(Rng, SeededAndDistinct) {
  Rng a(1), b(1), c(2);
  int same = 0;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    same += x == c.next();
  }
  EXPECT_EQ(same, 0);
  EXPECT_EQ(hash64("abc"), hash64("abc"));
  EXPECT_NE(hash64("abc"), hash64("abd"));
  EXPECT_NE(hash64("abc", 1), hash64("abc", 2));
}

TEST(Rng, Distributions) {
  Rng r(7);
  const int n = 100000;
  int bins[10] = {0};
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    uint64_t k = r.below(10);
    ASSERT_LT(k, 10u);
    ++bins[k];
    double u = r.uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  for (int b : bins) EXPECT_NEAR(b / (double)n, 0.1, 0.005);
  EXPECT_NEAR(sum / n, 0.5, 0.005);
  int w[3] = {0, 0, 0};
  for (int i = 0; i < n; ++i) ++w[r.weighted({1.0, 0.0, 3.0})];
  EXPECT_EQ(w[1], 0);
  EXPECT_NEAR(w[0] / (double)n, 0.25, 0.01);
  for (int i = 0; i < 1000; ++i) {
    int x = r.range(-2, 2);
    ASSERT_GE(x, -2);
    ASSERT_LE(x, 2);
  }
  std::vector<int> v(20);
  std::iota(v.begin(), v.end(), 0);
  r.shuffle(v);
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sorted[i], i);
}
