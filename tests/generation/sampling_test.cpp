// sample_token on hand-made logits: probabilities, truncation sets and log-probs computed by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "rlhf/generation/sampling.h"

namespace rlhf {
namespace {

struct Sampler {
  std::vector<float> s;
  std::vector<int32_t> i;
  SampledToken operator()(const std::vector<float>& l, const SamplingConfig& c, Rng& r) {
    return sample_token(l.data(), static_cast<int64_t>(l.size()), c, r, s, i);
  }
};

TEST(Sampling, GreedyPicksFirstMaxAndReportsModelLogprob) {
  Sampler sample;
  Rng rng(0);
  SamplingConfig c;
  c.temperature = 0;
  std::vector<float> l = {std::log(1.f), std::log(3.f), std::log(3.f), std::log(1.f)};
  auto t = sample(l, c, rng);
  EXPECT_EQ(t.token, 1);
  EXPECT_EQ(t.logprob, 0.0f);
  EXPECT_NEAR(t.model_logprob, std::log(3.0 / 8.0), 1e-6);
}

TEST(Sampling, FrequenciesFollowTheDistribution) {
  Sampler sample;
  Rng rng(123);
  SamplingConfig c;  // temperature 1
  std::vector<float> l = {std::log(1.f), std::log(3.f)};
  int ones = 0;
  const int n = 20000;
  for (int k = 0; k < n; ++k) {
    auto t = sample(l, c, rng);
    ones += t.token == 1;
    EXPECT_NEAR(t.logprob, t.token == 1 ? std::log(0.75) : std::log(0.25), 1e-6);
  }
  EXPECT_NEAR(ones / double(n), 0.75, 0.015);
}

TEST(Sampling, TemperatureSharpens) {
  Sampler sample;
  Rng rng(9);
  SamplingConfig c;
  c.temperature = 0.5;  // p ~ (1, 9) -> 0.9 for token 1
  std::vector<float> l = {0.f, std::log(3.f)};
  auto t = sample(l, c, rng);
  EXPECT_NEAR(t.logprob, t.token == 1 ? std::log(0.9) : std::log(0.1), 1e-5);
  EXPECT_NEAR(t.model_logprob, t.token == 1 ? std::log(0.75) : std::log(0.25), 1e-6);
}

TEST(Sampling, TopPKeepsSmallestSetReachingP) {
  Sampler sample;
  SamplingConfig c;
  c.top_p = 0.7;  // probabilities 0.5, 0.3, 0.2 -> keep {0, 1} (0.8 >= 0.7)
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Rng rng(5);
  int seen[3] = {0, 0, 0};
  for (int k = 0; k < 4000; ++k) {
    auto t = sample(l, c, rng);
    seen[t.token]++;
    EXPECT_NEAR(t.logprob, std::log((t.token == 0 ? 0.5 : 0.3) / 0.8), 1e-5);
  }
  EXPECT_EQ(seen[2], 0);
  EXPECT_NEAR(seen[0] / 4000.0, 0.625, 0.03);
}

TEST(Sampling, TopKThenTopPOnRenormalisedSet) {
  Sampler sample;
  SamplingConfig c;
  c.top_k = 2;    // keeps 0.4, 0.3 -> renormalised 4/7, 3/7
  c.top_p = 0.5;  // 4/7 >= 0.5 -> only token 0
  std::vector<float> l = {std::log(0.3f), std::log(0.4f), std::log(0.2f), std::log(0.1f)};
  Rng rng(1);
  for (int k = 0; k < 50; ++k) EXPECT_EQ(sample(l, c, rng).token, 1);
  c.top_p = 1;
  int seen0 = 0;
  for (int k = 0; k < 4000; ++k) {
    auto t = sample(l, c, rng);
    ASSERT_TRUE(t.token == 0 || t.token == 1);
    seen0 += t.token == 0;
    EXPECT_NEAR(t.logprob, std::log(t.token == 1 ? 4.0 / 7 : 3.0 / 7), 1e-5);
  }
  EXPECT_NEAR(seen0 / 4000.0, 3.0 / 7, 0.03);
}

TEST(Sampling, LargeVocabTopPGrowsTheSortedPrefix) {
  // 1000 equal logits: top_p 0.5 must keep exactly 500 tokens (needs more than the first 64).
  Sampler sample;
  SamplingConfig c;
  c.top_p = 0.5;
  std::vector<float> l(1000, 0.0f);
  Rng rng(3);
  for (int k = 0; k < 200; ++k) {
    auto t = sample(l, c, rng);
    EXPECT_LT(t.token, 500);  // ties: smaller ids first
    EXPECT_NEAR(t.logprob, std::log(1.0 / 500), 1e-4);
  }
}

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  int same = 0;
  for (int i = 0; i < 10; ++i) {
    uint64_t x = a.next();
    EXPECT_EQ(x, b.next());
    same += x == c.next();
  }
  EXPECT_EQ(same, 0);
  Rng u(1);
  for (int i = 0; i < 1000; ++i) {
    double v = u.uniform();
    ASSERT_GE(v, 0.0);
    ASSERT_LT(v, 1.0);
  }
}

}  // namespace
}  // namespace rlhf
