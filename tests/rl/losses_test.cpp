// PPO maths against hand-computed values and closed forms.
#include "rlhf/rl/losses.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rlhf/io/error.h"
#include "rlhf/rl/ppo_config.h"

using namespace rlhf::rl;

static torch::Tensor t2(std::vector<double> v, int64_t rows) {
  return torch::tensor(v, torch::kFloat64).view({rows, -1});
}

TEST(Gae, HandComputedGammaOneLambdaPointNine) {
  // delta_2 = 1 - 0.7 = 0.3; delta_1 = 0.7 - 0.6 = 0.1; delta_0 = 0.6 - 0.5 = 0.1
  // A_2 = 0.3; A_1 = 0.1 + 0.9 * 0.3 = 0.37; A_0 = 0.1 + 0.9 * 0.37 = 0.433
  auto r = gae(t2({0, 0, 1}, 1), t2({0.5, 0.6, 0.7}, 1), t2({1, 1, 1}, 1), 1.0, 0.9);
  EXPECT_NEAR(r.advantages[0][0].item<double>(), 0.433, 1e-12);
  EXPECT_NEAR(r.advantages[0][1].item<double>(), 0.37, 1e-12);
  EXPECT_NEAR(r.advantages[0][2].item<double>(), 0.3, 1e-12);
  EXPECT_NEAR(r.returns[0][0].item<double>(), 0.933, 1e-12);
  EXPECT_NEAR(r.returns[0][2].item<double>(), 1.0, 1e-12);
}

TEST(Gae, DiscountAndMaskedTail) {
  // Row 0: gamma 0.5, lambda 1, V = 0: A_2 = 3, A_1 = 2 + 1.5 = 3.5, A_0 = 1 + 1.75 = 2.75.
  // Row 1: the last token is padding (value 9 and reward 5 must be ignored):
  //   A_1 = 1 - 0.4 = 0.6 (no bootstrap past the end),
  //   A_0 = (0 + 0.5 * 0.4 - 0.2) + 0.5 * 1 * 0.6 = 0.3.
  auto rewards = t2({1, 2, 3, 0, 1, 5}, 2);
  auto values = t2({0, 0, 0, 0.2, 0.4, 9}, 2);
  auto mask = t2({1, 1, 1, 1, 1, 0}, 2);
  auto r = gae(rewards, values, mask, 0.5, 1.0);
  EXPECT_NEAR(r.advantages[0][0].item<double>(), 2.75, 1e-12);
  EXPECT_NEAR(r.advantages[0][1].item<double>(), 3.5, 1e-12);
  EXPECT_NEAR(r.advantages[1][0].item<double>(), 0.3, 1e-12);
  EXPECT_NEAR(r.advantages[1][1].item<double>(), 0.6, 1e-12);
  EXPECT_EQ(r.advantages[1][2].item<double>(), 0.0);
  EXPECT_EQ(r.returns[1][2].item<double>(), 0.0);
}

TEST(Kl, EstimatorsPerToken) {
  auto logp = torch::tensor({std::log(0.5)}, torch::kFloat64);
  auto ref = torch::tensor({std::log(0.25)}, torch::kFloat64);
  double r = std::log(0.5);  // log(ref / pi)
  EXPECT_NEAR(kl_per_token(logp, ref, KlEstimator::K1).item<double>(), -r, 1e-12);
  EXPECT_NEAR(kl_per_token(logp, ref, KlEstimator::K2).item<double>(), 0.5 * r * r, 1e-12);
  EXPECT_NEAR(kl_per_token(logp, ref, KlEstimator::K3).item<double>(), (0.5 - 1) - r, 1e-12);
  EXPECT_THROW(parse_kl_estimator("k4"), rlhf::Error);
}

TEST(Kl, ExpectationsMatchClosedForm) {
  // Under sampling from p, E[k1] = E[k3] = KL(p || q) exactly; E[k2] = E[(log q/p)^2] / 2.
  std::vector<double> p = {0.7, 0.2, 0.1}, q = {0.5, 0.3, 0.2};
  double kl = 0, half_sq = 0;
  for (int i = 0; i < 3; ++i) {
    kl += p[i] * std::log(p[i] / q[i]);
    half_sq += p[i] * 0.5 * std::pow(std::log(q[i] / p[i]), 2);
  }
  auto lp = torch::log(torch::tensor(p, torch::kFloat64));
  auto lq = torch::log(torch::tensor(q, torch::kFloat64));
  auto w = torch::tensor(p, torch::kFloat64);
  EXPECT_NEAR((w * kl_per_token(lp, lq, KlEstimator::K1)).sum().item<double>(), kl, 1e-12);
  EXPECT_NEAR((w * kl_per_token(lp, lq, KlEstimator::K3)).sum().item<double>(), kl, 1e-12);
  EXPECT_NEAR((w * kl_per_token(lp, lq, KlEstimator::K2)).sum().item<double>(), half_sq, 1e-12);
  // k3 is never negative, even where k1 is.
  EXPECT_GE(kl_per_token(lp, lq, KlEstimator::K3).min().item<double>(), 0.0);
  EXPECT_LT(kl_per_token(lp, lq, KlEstimator::K1).min().item<double>(), 0.0);
}

TEST(PolicyLoss, ClipEdgesAndGradients) {
  // Four tokens, eps = 0.2. ratio and advantage per token, and the hand-derived gradient of the
  // per-token term w.r.t. logp (d ratio / d logp = ratio):
  //  r=1.5, A=+1: max(-1.5, -1.2) = -1.2 (clipped branch, grad 0)
  //  r=1.5, A=-1: max(1.5, 1.2) = 1.5 (unclipped, grad = -A*r = 1.5)
  //  r=0.5, A=+1: max(-0.5, -0.8) = -0.5 (unclipped, grad = -0.5)
  //  r=0.5, A=-1: max(0.5, 0.8) = 0.8 (clipped, grad 0)
  std::vector<double> ratios = {1.5, 1.5, 0.5, 0.5}, adv = {1, -1, 1, -1};
  auto old_logp = torch::zeros({1, 4}, torch::kFloat64);
  auto logp = torch::log(torch::tensor(ratios, torch::kFloat64)).view({1, 4}).set_requires_grad(true);
  auto a = torch::tensor(adv, torch::kFloat64).view({1, 4});
  auto res = policy_loss_clipped(logp, old_logp, a, torch::ones({1, 4}, torch::kFloat64), 0.2);
  EXPECT_NEAR(res.loss.item<double>(), (-1.2 + 1.5 - 0.5 + 0.8) / 4, 1e-12);
  EXPECT_NEAR(res.clip_frac.item<double>(), 0.5, 1e-12);
  res.loss.backward();
  auto g = logp.grad();
  EXPECT_NEAR(g[0][0].item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(g[0][1].item<double>(), 1.5 / 4, 1e-12);
  EXPECT_NEAR(g[0][2].item<double>(), -0.5 / 4, 1e-12);
  EXPECT_NEAR(g[0][3].item<double>(), 0.0, 1e-12);
  // approx_kl = mean((r - 1) - log r)
  double ak = 0;
  for (double r : ratios) ak += (r - 1) - std::log(r);
  EXPECT_NEAR(res.approx_kl.item<double>(), ak / 4, 1e-12);
}

TEST(PolicyLoss, RatioOneGivesMinusMeanAdvantage) {
  auto lp = torch::full({2, 3}, -1.0, torch::kFloat64);
  auto a = t2({1, 2, 3, 4, 5, 6}, 2);
  auto mask = t2({1, 1, 0, 1, 0, 0}, 2);
  auto res = policy_loss_clipped(lp, lp.clone(), a, mask, 0.2);
  EXPECT_NEAR(res.loss.item<double>(), -(1 + 2 + 4) / 3.0, 1e-12);  // masked tokens ignored
  EXPECT_EQ(res.clip_frac.item<double>(), 0.0);
  EXPECT_NEAR(res.approx_kl.item<double>(), 0.0, 1e-15);
}

TEST(ValueLoss, ClippedBranch) {
  // v = 1.5, old = 1.0, R = 2.0, eps 0.2: v_clip = 1.2; (v-R)^2 = 0.25, (v_clip-R)^2 = 0.64
  auto v = torch::tensor({1.5}, torch::kFloat64).view({1, 1}).set_requires_grad(true);
  auto res = value_loss_clipped(v, t2({1.0}, 1), t2({2.0}, 1), t2({1}, 1), 0.2);
  EXPECT_NEAR(res.loss.item<double>(), 0.32, 1e-12);
  EXPECT_NEAR(res.clip_frac.item<double>(), 1.0, 1e-12);
  res.loss.backward();
  EXPECT_NEAR(v.grad()[0][0].item<double>(), 0.0, 1e-12);  // the clipped branch does not move v
  auto v2 = torch::tensor({1.1}, torch::kFloat64).view({1, 1}).set_requires_grad(true);
  auto res2 = value_loss_clipped(v2, t2({1.0}, 1), t2({2.0}, 1), t2({1}, 1), 0.2);
  EXPECT_NEAR(res2.loss.item<double>(), 0.5 * 0.81, 1e-12);
  res2.loss.backward();
  EXPECT_NEAR(v2.grad()[0][0].item<double>(), 1.1 - 2.0, 1e-12);  // d/dv 0.5 (v-R)^2
}

TEST(Whiten, ZeroMeanUnitVarianceOverMask) {
  auto x = t2({1, 2, 3, 100}, 1);
  auto m = t2({1, 1, 1, 0}, 1);
  auto w = whiten(x, m);
  // mean 2, unbiased var 1 -> (-1, 0, 1), masked entry 0
  EXPECT_NEAR(w[0][0].item<double>(), -1.0, 1e-6);
  EXPECT_NEAR(w[0][1].item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(w[0][2].item<double>(), 1.0, 1e-6);
  EXPECT_EQ(w[0][3].item<double>(), 0.0);
}

TEST(CriticFree, RlooAndGrpo) {
  auto s = t2({1, 2, 3, 5, 5, 5}, 2);
  auto r = rloo_advantages(s);
  EXPECT_NEAR(r[0][0].item<double>(), 1 - 2.5, 1e-12);
  EXPECT_NEAR(r[0][1].item<double>(), 2 - 2.0, 1e-12);
  EXPECT_NEAR(r[0][2].item<double>(), 3 - 1.5, 1e-12);
  EXPECT_NEAR(r[1].abs().sum().item<double>(), 0.0, 1e-12);
  auto g = grpo_advantages(s);
  EXPECT_NEAR(g[0][0].item<double>(), -1.0, 1e-5);  // mean 2, sample std 1
  EXPECT_NEAR(g[0][2].item<double>(), 1.0, 1e-5);
  EXPECT_NEAR(g[1].abs().sum().item<double>(), 0.0, 1e-12);  // identical scores: no signal
}

TEST(CriticFree, CenterPerGroupSubtractsEachPromptsMean) {
  auto s = t2({1, 2, 6, -3, 0, 3}, 2);
  auto c = center_per_group(s);
  const double want[2][3] = {{1 - 3.0, 2 - 3.0, 6 - 3.0}, {-3 - 0.0, 0 - 0.0, 3 - 0.0}};
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(c[p][i].item<double>(), want[p][i], 1e-12);
  EXPECT_THROW(center_per_group(t2({1, 2}, 2)), std::exception);  // one sample per prompt: no group
}

TEST(PpoConfigGroupCenter, NeedsGroupsAndRoundTrips) {
  PpoConfig c;
  c.group_center = true;
  c.samples_per_prompt = 1;
  EXPECT_THROW(c.validate(), std::exception);
  c.samples_per_prompt = 2;
  EXPECT_NO_THROW(c.validate());
  EXPECT_TRUE(PpoConfig::from_json(c.to_json()).group_center);
  EXPECT_FALSE(PpoConfig::from_json(PpoConfig().to_json()).group_center);
}

TEST(KlController, AdaptiveUpdate) {
  KlController c(0.1, 6.0, 10000);
  c.update(9.0, 100);  // error 0.5 clipped to 0.2: beta *= 1 + 0.2 * 100 / 10000
  EXPECT_NEAR(c.beta(), 0.1 * 1.002, 1e-15);
  c.update(6.6, 100);  // error 0.1
  EXPECT_NEAR(c.beta(), 0.1 * 1.002 * 1.001, 1e-15);
  c.update(0.0, 1000);  // error -1 clipped to -0.2
  EXPECT_NEAR(c.beta(), 0.1 * 1.002 * 1.001 * 0.98, 1e-15);
  KlController fixed(0.05, 0, 0);
  fixed.update(100.0, 1000);
  EXPECT_EQ(fixed.beta(), 0.05);
}

TEST(Entropy, UniformAndMasked) {
  auto logits = torch::zeros({1, 2, 4});
  logits[0][1][0] = 100.0;  // near-deterministic second position
  auto m1 = torch::tensor({1.0f, 0.0f}).view({1, 2});
  EXPECT_NEAR(entropy_from_logits(logits, m1).item<double>(), std::log(4.0), 1e-5);
  auto m2 = torch::tensor({0.0f, 1.0f}).view({1, 2});
  EXPECT_NEAR(entropy_from_logits(logits, m2).item<double>(), 0.0, 1e-5);
}
