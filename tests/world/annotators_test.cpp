// Simulated annotators: Bradley-Terry probabilities by hand, temperature 0 = the gold judge,
// flip and temperature statistics, the default agreement ranges (>= 2,000 labels), rankings.
#include "rlhf/world/annotators.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rlhf/io/error.h"
#include "rlhf/world/prompts.h"
#include "rlhf/world/responses.h"

using namespace rlhf::world;

namespace {
JudgeScores scores(double gold, double helpful, double harmless, double concise, double form) {
  return JudgeScores{gold, helpful, harmless, concise, form};
}

struct Candidates {
  std::string prompt;
  std::vector<std::string> responses;
};

// 700 training prompts with 4 responses each: half Good, half a random style.
std::vector<Candidates> candidate_sets() {
  std::vector<Candidates> out;
  Rng rng(5);
  for (const auto& p : sample_prompts(Split::Train, 700, 3)) {
    Candidates c{p.prompt, {}};
    for (int k = 0; k < 4; ++k) {
      Style st = rng.bernoulli(0.5) ? Style::Good : (Style)rng.below(kNumStyles);
      c.responses.push_back(write_response(catalogue()[p.spec], st, rng));
    }
    out.push_back(c);
  }
  return out;
}

struct Agreement {
  int n = 0, gold0 = 0, gold1 = 0, between = 0;
};

Agreement agreement(const AnnotatorPool& pool) {
  Agreement a;
  for (const auto& c : candidate_sets())
    for (size_t i = 0; i < c.responses.size(); ++i)
      for (size_t j = i + 1; j < c.responses.size(); ++j) {
        double gi = judge(c.prompt, c.responses[i]).gold, gj = judge(c.prompt, c.responses[j]).gold;
        if (std::fabs(gi - gj) < 1e-9) continue;  // gold has no preference
        bool l0 = pool.label_pair(c.prompt, c.responses[i], c.responses[j], 0).first_preferred;
        bool l1 = pool.label_pair(c.prompt, c.responses[i], c.responses[j], 1).first_preferred;
        ++a.n;
        a.gold0 += l0 == (gi > gj);
        a.gold1 += l1 == (gi > gj);
        a.between += l0 == l1;
      }
  return a;
}
}  // namespace

TEST(Annotators, BradleyTerryProbabilityByHand) {
  AnnotatorConfig cfg;
  cfg.temperature = 0.5;
  cfg.flip_rate = 0;
  cfg.bias_axis = 2;  // concise
  cfg.bias_strength = 1.5;
  AnnotatorPool pool(3, cfg);
  JudgeScores a = scores(0.8, 1, 1, 0.2, 1), b = scores(0.6, 1, 1, 1.0, 1);
  // sigmoid((0.8 - 0.6) / 0.5 + 1.5 * (0.2 - 1.0)) = sigmoid(0.4 - 1.2) = sigmoid(-0.8)
  double p = 1 / (1 + std::exp(0.8));
  PairLabel l = pool.label_scores(a, b, 123, 1);
  EXPECT_NEAR(l.p_first, p, 1e-12);
  EXPECT_NEAR(l.strength, std::fabs(2 * p - 1), 1e-12);
  EXPECT_EQ(pool.bias_axis(0), 2);
  AnnotatorConfig cyc;
  AnnotatorPool cycle(6, cyc);
  EXPECT_EQ(cycle.bias_axis(0), 0);
  EXPECT_EQ(cycle.bias_axis(5), 1);
  EXPECT_EQ(cycle.id(5), "sim-5");
}

TEST(Annotators, EmpiricalFrequencyMatchesTheModel) {
  AnnotatorConfig cfg;
  cfg.temperature = 0.2;
  cfg.flip_rate = 0;
  cfg.bias_axis = -2;
  AnnotatorPool pool(1, cfg);
  JudgeScores a = scores(0.5, 0, 0, 0, 0), b = scores(0.3, 0, 0, 0, 0);
  int first = 0, n = 8000;
  for (int k = 0; k < n; ++k) first += pool.label_scores(a, b, (uint64_t)k, 0).first_preferred;
  EXPECT_NEAR((double)first / n, 1 / (1 + std::exp(-1.0)), 0.02);  // sigmoid(0.2 / 0.2)
  cfg.temperature = 0;
  cfg.flip_rate = 0.2;
  AnnotatorPool flippy(1, cfg);
  first = 0;
  for (int k = 0; k < n; ++k) first += flippy.label_scores(a, b, (uint64_t)k, 0).first_preferred;
  EXPECT_NEAR((double)first / n, 0.8, 0.02);
}

TEST(Annotators, TemperatureZeroNoFlipsAgreesWithGold) {
  AnnotatorConfig cfg;
  cfg.temperature = 0;
  cfg.flip_rate = 0;  // bias stays on (default: cycling axes): it only breaks gold ties
  Agreement a = agreement(AnnotatorPool(4, cfg));
  ASSERT_GE(a.n, 2000);
  EXPECT_EQ(a.gold0, a.n);
  EXPECT_EQ(a.gold1, a.n);
}

TEST(Annotators, DefaultsDisagreeLikePeople) {
  // Stated ranges (docs/world.md): agreement with gold 75-88%, between two annotators 65-80%,
  // on candidate sets of half good, half random-style responses.
  Agreement a = agreement(AnnotatorPool(4, AnnotatorConfig{}));
  ASSERT_GE(a.n, 2000);
  double g0 = (double)a.gold0 / a.n, g1 = (double)a.gold1 / a.n, b = (double)a.between / a.n;
  std::cout << "labels " << a.n << ": gold agreement " << g0 << ", " << g1 << "; between annotators " << b << "\n";
  EXPECT_GE(g0, 0.75);
  EXPECT_LE(g0, 0.88);
  EXPECT_GE(g1, 0.75);
  EXPECT_LE(g1, 0.88);
  EXPECT_GE(b, 0.65);
  EXPECT_LE(b, 0.80);
}

TEST(Annotators, PairsAreMirroredAndSeeded) {
  AnnotatorPool pool(2, AnnotatorConfig{});
  std::string p = format_prompt("What is 7 plus 5?");
  int differ = 0;
  for (int k = 0; k < 200; ++k) {
    std::string a = " The answer is " + std::to_string(12 + k % 3) + ".", b = " 7 plus 5 is 12. I hope this helps.";
    if (k % 2) a += " Thank you.";
    PairLabel ab = pool.label_pair(p, a, b, k % 2), ba = pool.label_pair(p, b, a, k % 2);
    EXPECT_NE(ab.first_preferred, ba.first_preferred);
    EXPECT_NEAR(ab.p_first, 1 - ba.p_first, 1e-12);
    EXPECT_EQ(ab.first_preferred, pool.label_pair(p, a, b, k % 2).first_preferred);
  }
  AnnotatorConfig other;
  other.seed = 99;
  AnnotatorPool pool2(2, other);
  JudgeScores x = scores(0.5, 0, 0, 0, 0), y = scores(0.45, 0, 0, 0, 0);
  for (int k = 0; k < 200; ++k)
    differ += pool.label_scores(x, y, k, 0).first_preferred != pool2.label_scores(x, y, k, 0).first_preferred;
  EXPECT_GT(differ, 20);
}

TEST(Annotators, RankingsFollowPlackettLuce) {
  AnnotatorConfig cfg;
  cfg.temperature = 0;
  cfg.flip_rate = 0;
  cfg.bias_axis = -2;
  AnnotatorPool argmax(1, cfg);
  std::vector<JudgeScores> s = {scores(0.1, 0, 0, 0, 0), scores(0.9, 0, 0, 0, 0), scores(0.5, 0, 0, 0, 0),
                                scores(0.5, 0, 0, 0, 0)};
  EXPECT_EQ(argmax.rank_scores(s, 1, 0), (std::vector<int>{1, 2, 3, 0}));  // tie 2/3: lower index first
  // P(first place = i) = softmax(gold / T)_i under Plackett-Luce.
  cfg.temperature = 0.25;
  AnnotatorPool pl(1, cfg);
  std::vector<JudgeScores> t = {scores(0.0, 0, 0, 0, 0), scores(0.25, 0, 0, 0, 0), scores(0.5, 0, 0, 0, 0)};
  double z = std::exp(0.0) + std::exp(1.0) + std::exp(2.0);
  int top[3] = {0, 0, 0}, n = 9000;
  for (int k = 0; k < n; ++k) {
    auto r = pl.rank_scores(t, (uint64_t)k, 0);
    ASSERT_EQ(r.size(), 3u);
    ++top[r[0]];
  }
  for (int i = 0; i < 3; ++i) EXPECT_NEAR((double)top[i] / n, std::exp((double)i) / z, 0.02) << i;
}

TEST(Annotators, ConfigErrors) {
  AnnotatorConfig bad;
  bad.temperature = -1;
  EXPECT_THROW(AnnotatorPool(2, bad), rlhf::Error);
  bad = AnnotatorConfig{};
  bad.flip_rate = 1.5;
  EXPECT_THROW(AnnotatorPool(2, bad), rlhf::Error);
  EXPECT_THROW(AnnotatorPool(0, AnnotatorConfig{}), rlhf::Error);
  AnnotatorPool ok(2, AnnotatorConfig{});
  EXPECT_THROW(ok.label_scores(JudgeScores{}, JudgeScores{}, 0, 2), rlhf::Error);
}
