// Reward losses against hand-computed numbers: pairs, margins, rankings (pairwise and
// Plackett–Luce), ties (ignored / tie loss) and the centring penalty.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "rlhf/reward/losses.h"

using namespace rlhf::reward;

namespace {
// -log σ(x) = log(1 + e^-x)
double nls(double x) { return std::log1p(std::exp(-x)); }
torch::Tensor t(std::vector<float> v, bool grad = false) {
  return torch::tensor(v, torch::kFloat).requires_grad_(grad);
}
}  // namespace

TEST(RewardLoss, BradleyTerryPairs) {
  // d = 1 and d = 0: (0.3132617 + 0.6931472) / 2 = 0.5032044
  auto l = bradley_terry_loss(t({1, 0}), t({0, 0}));
  EXPECT_NEAR(l.item<double>(), 0.5032044, 1e-6);
  EXPECT_NEAR(l.item<double>(), (nls(1) + nls(0)) / 2, 1e-6);
  // Margin (Llama 2): r_c - r_r = 2, margin 1 -> -log σ(1) = 0.3132617
  EXPECT_NEAR(bradley_terry_loss(t({2}), t({0}), t({1})).item<double>(), 0.3132617, 1e-6);
  // Large gaps stay finite (softplus form): -log σ(-100) = 100
  EXPECT_NEAR(bradley_terry_loss(t({-100}), t({0})).item<double>(), 100.0, 1e-4);
}

TEST(RewardLoss, BradleyTerryGradient) {
  // d/dr_c of -log σ(r_c - r_r) = -(1 - σ(d)) = -σ(-d); at d = 0: -0.5
  auto rc = t({0.0}, true), rr = t({0.0}, true);
  bradley_terry_loss(rc, rr).backward();
  EXPECT_NEAR(rc.grad().item<double>(), -0.5, 1e-6);
  EXPECT_NEAR(rr.grad().item<double>(), 0.5, 1e-6);
}

TEST(RewardLoss, TieLoss) {
  EXPECT_NEAR(tie_loss(t({0.3}), t({0.3})).item<double>(), std::log(2.0), 1e-6);
  // d = 1: ½(0.3132617 + 1.3132617) = 0.8132617
  EXPECT_NEAR(tie_loss(t({1}), t({0})).item<double>(), 0.8132617, 1e-6);
}

TEST(RewardLoss, GroupedPairsEqualBradleyTerry) {
  // Two pair groups [1, 0] and [0.5, 2] in one (4) vector.
  std::vector<GroupSpec> g = {{0, {0, 1}, 0.0}, {2, {0, 1}, 0.0}};
  auto parts = reward_loss(t({1, 0, 0.5, 2}), g, {});
  EXPECT_NEAR(parts.total.item<double>(), (nls(1) + nls(-1.5)) / 2, 1e-6);
  EXPECT_EQ(parts.strict_pairs, 2);
  EXPECT_EQ(parts.correct_pairs, 1);
  // Margin per group
  g[0].margin = 1.0;
  parts = reward_loss(t({1, 0, 0.5, 2}), g, {});
  EXPECT_NEAR(parts.total.item<double>(), (nls(0) + nls(-1.5)) / 2, 1e-6);
}

TEST(RewardLoss, RankingAsAllPairs) {
  // K = 3 ranked 0 > 1 > 2 with rewards 2, 1, 0: pairs d = 1, 2, 1 ->
  // (0.3132617 + 0.1269280 + 0.3132617) / 3 = 0.2511505 (InstructGPT's 1/C(K,2)).
  auto parts = reward_loss(t({2, 1, 0}), {{0, {0, 1, 2}, 0.0}}, {});
  EXPECT_NEAR(parts.total.item<double>(), 0.2511505, 1e-6);
  EXPECT_EQ(parts.strict_pairs, 3);
  EXPECT_EQ(parts.correct_pairs, 3);
  // Ranking given in a different response order: levels {2, 0, 1}, rewards 0, 2, 1: same loss.
  parts = reward_loss(t({0, 2, 1}), {{0, {2, 0, 1}, 0.0}}, {});
  EXPECT_NEAR(parts.total.item<double>(), 0.2511505, 1e-6);
  // A ranking group and a pair group weigh the same: mean of 0.2511505 and -log σ(0) = 0.6931472.
  parts = reward_loss(t({2, 1, 0, 5, 5}), {{0, {0, 1, 2}, 0.0}, {3, {0, 1}, 0.0}}, {});
  EXPECT_NEAR(parts.total.item<double>(), (0.2511505 + 0.6931472) / 2, 1e-6);
}

TEST(RewardLoss, PlackettLuce) {
  LossOptions o;
  o.ranking = RankingLoss::PlackettLuce;
  // rewards 2, 1, 0 ranked in that order:
  //   stage 1: log(e^2 + e^1 + e^0) - 2 = log(11.107338) - 2 = 0.4076059
  //   stage 2: log(e^1 + e^0) - 1 = 0.3132617        mean = 0.3604338
  auto parts = reward_loss(t({2, 1, 0}), {{0, {0, 1, 2}, 0.0}}, o);
  EXPECT_NEAR(parts.total.item<double>(), 0.3604338, 1e-6);
  // K = 2: Plackett–Luce is Bradley–Terry, margin included.
  parts = reward_loss(t({2, 0}), {{0, {0, 1}, 1.0}}, o);
  EXPECT_NEAR(parts.total.item<double>(), nls(1), 1e-6);
  // Ties: levels {0, 0, 1}, rewards 1, 0, 0: tied items stay out of each other's denominators:
  //   item 0: log(e^1 + e^0) - 1 = 0.3132617; item 1: log(e^0 + e^0) - 0 = log 2; mean 0.5032044
  parts = reward_loss(t({1, 0, 0}), {{0, {0, 0, 1}, 0.0}}, o);
  EXPECT_NEAR(parts.total.item<double>(), 0.5032044, 1e-6);
  EXPECT_EQ(parts.tie_pairs, 1);
  EXPECT_EQ(parts.strict_pairs, 2);
}

TEST(RewardLoss, TiesIgnoredOrLoss) {
  std::vector<GroupSpec> g = {{0, {0, 1}, 0.0}, {2, {0, 0}, 0.0}};
  auto r = t({1, 0, 0.7, -0.3}, true);
  auto parts = reward_loss(r, g, {});
  EXPECT_NEAR(parts.total.item<double>(), nls(1), 1e-6);  // the tie group is left out
  EXPECT_EQ(parts.tie_pairs, 1);
  parts.total.backward();
  EXPECT_EQ(r.grad()[2].item<double>(), 0.0);  // no gradient toward either tied response
  EXPECT_EQ(r.grad()[3].item<double>(), 0.0);
  EXPECT_LT(r.grad()[0].item<double>(), 0.0);
  // Tie loss: the tie group adds ½(-log σ(1) - log σ(-1)) = 0.8132617.
  LossOptions o;
  o.ties = TieMode::Loss;
  parts = reward_loss(t({1, 0, 0.7, -0.3}), g, o);
  EXPECT_NEAR(parts.total.item<double>(), (nls(1) + 0.8132617) / 2, 1e-6);
  // Only ties, ignored: zero loss, and backward() still works.
  auto r2 = t({0.2, 0.4}, true);
  parts = reward_loss(r2, {{0, {0, 0}, 0.0}}, {});
  EXPECT_EQ(parts.total.item<double>(), 0.0);
  parts.total.backward();
  EXPECT_EQ(r2.grad().abs().sum().item<double>(), 0.0);
}

TEST(RewardLoss, CentringPenalty) {
  LossOptions o;
  o.center_coef = 0.5;
  // groups [1, 3] (mean 2) and [-1, -1] (mean -1, a tie -> no preference term):
  // centring = 0.5 * (4 + 1) / 2 = 1.25; preference = -log σ(1 - 3) = 2.1269280.
  auto parts = reward_loss(t({1, 3, -1, -1}), {{0, {0, 1}, 0.0}, {2, {0, 0}, 0.0}}, o);
  EXPECT_NEAR(parts.centering.item<double>(), 1.25, 1e-6);
  EXPECT_NEAR(parts.preference.item<double>(), nls(-2), 1e-6);
  EXPECT_NEAR(parts.total.item<double>(), 1.25 + nls(-2), 1e-6);
  // Shifting every reward by a constant leaves the preference term unchanged.
  auto shifted = reward_loss(t({11, 13, 9, 9}), {{0, {0, 1}, 0.0}, {2, {0, 0}, 0.0}}, o);
  EXPECT_NEAR(shifted.preference.item<double>(), parts.preference.item<double>(), 1e-6);
  EXPECT_GT(shifted.centering.item<double>(), parts.centering.item<double>());
}

TEST(RewardLoss, ParseNames) {
  EXPECT_EQ(parse_ranking_loss("plackett-luce"), RankingLoss::PlackettLuce);
  EXPECT_EQ(parse_tie_mode("loss"), TieMode::Loss);
  EXPECT_ANY_THROW(parse_ranking_loss("listwise"));
}
