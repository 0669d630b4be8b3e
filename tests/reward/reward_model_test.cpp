// Reward-model plumbing on a tiny random trunk: input encoding and truncation, padding
// invariance of the reward read at the EOS, ensemble mean/std, normalisation, and a short
// training run on the shared Trainer whose loss falls and accuracy rises.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <numeric>

#include "reward/test_tokenizer.h"
#include "rlhf/data/preference_batch.h"
#include "rlhf/reward/losses.h"
#include "rlhf/reward/reward_model.h"
#include "rlhf/reward/trainer.h"
#include "rlhf/train/trainer.h"

using namespace rlhf;

namespace {
std::shared_ptr<Tokenizer> bytes() { return std::make_shared<test_support::ByteTokenizer>(); }
}  // namespace

TEST(RewardInput, EncodingAndTruncation) {
  test_support::ByteTokenizer tok;
  bool cut = true;
  EXPECT_EQ(data::encode_reward_input(tok, "ab", "c", 10, &cut), (std::vector<int64_t>{97, 98, 99, 256}));
  EXPECT_FALSE(cut);
  // Too long: the prompt loses tokens from the left; the response and EOS stay.
  EXPECT_EQ(data::encode_reward_input(tok, "ab", "c", 3, &cut), (std::vector<int64_t>{98, 99, 256}));
  EXPECT_TRUE(cut);
  // A response longer than the room keeps its last tokens.
  EXPECT_EQ(data::encode_reward_input(tok, "ab", "cdef", 3, &cut), (std::vector<int64_t>{101, 102, 256}));
}

TEST(RewardInput, CollateGroups) {
  std::vector<data::TokenizedGroup> g(2);
  g[0].seqs = {{1, 2, 256}, {3, 256}};
  g[0].level = {0, 1};
  g[0].margin = 2.0;
  g[1].seqs = {{4, 256}, {5, 6, 7, 256}, {8, 256}};
  g[1].level = {1, 0, 2};
  auto b = data::collate_groups(g, {1, 0}, 0, 0.5);
  ASSERT_EQ(b.tokens.sizes(), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(b.last_index.to(torch::kCPU).equal(torch::tensor({1, 3, 1, 2, 1}, torch::kLong)), true);
  EXPECT_EQ(b.tokens[1][3].item<int64_t>(), 256);
  EXPECT_EQ(b.tokens[0][2].item<int64_t>(), 0);  // padding
  ASSERT_EQ(b.groups.size(), 2u);
  EXPECT_EQ(b.groups[0].offset, 0);
  EXPECT_EQ(b.groups[1].offset, 3);
  EXPECT_EQ(b.groups[1].margin, 1.0);  // 0.5 * 2
  EXPECT_EQ(b.real_tokens, 2 + 4 + 2 + 3 + 2);
}

TEST(RewardNet, RewardIsReadAtTheEosAndIgnoresPadding) {
  torch::manual_seed(1);
  reward::RewardNet net(test_support::byte_model_config());
  net->eval();
  torch::NoGradGuard ng;
  std::vector<int64_t> a = {10, 20, 30, 256}, b = {40, 256};
  auto alone = data::collate_sequences({&b}, 0);
  auto both = data::collate_sequences({&a, &b}, 0);
  double r_alone = net->forward(alone.tokens, alone.last_index)[0].item<double>();
  auto r_both = net->forward(both.tokens, both.last_index);
  EXPECT_NEAR(r_both[1].item<double>(), r_alone, 1e-5);
  // An independent computation: head applied to the trunk's hidden state at the EOS position.
  auto h = net->trunk->hidden(torch::tensor({10, 20, 30, 256}, torch::kLong).unsqueeze(0));
  double direct = net->head->proj(h[0][3]).item<double>();
  EXPECT_NEAR(r_both[0].item<double>(), direct, 1e-5);
}

TEST(RewardModelScoring, EnsembleStdAndNormalisation) {
  torch::manual_seed(2);
  reward::RewardNet a(test_support::byte_model_config());
  reward::RewardNet a_copy(test_support::byte_model_config());
  {
    torch::NoGradGuard ng;
    auto src = a->parameters(), dst = a_copy->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  reward::RewardNet b(test_support::byte_model_config());
  std::vector<std::string> prompts = {"\n\nHuman: hi\n\nAssistant:", "\n\nHuman: 2+2?\n\nAssistant:"};
  std::vector<std::string> responses = {" hello", " 4"};
  reward::RewardModelInfo info;
  reward::RewardModel single({a}, {info}, bytes(), 64);
  reward::RewardModel same({a, a_copy}, {info, info}, bytes(), 64);
  auto s1 = single.score(prompts, responses);
  auto s2 = same.score(prompts, responses);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s2.stdev[i], 0.0);  // identical members: no disagreement
    EXPECT_NEAR(s2.mean[i], s1.mean[i], 1e-6);
    EXPECT_EQ(s1.stdev[i], 0.0);
  }
  reward::RewardModel diff({a, b}, {info, info}, bytes(), 64);
  reward::RewardModel only_b({b}, {info}, bytes(), 64);
  auto sd = diff.score(prompts, responses), sb = only_b.score(prompts, responses);
  for (size_t i = 0; i < 2; ++i) {
    // Two members: mean (x + y)/2, population std |x - y|/2.
    EXPECT_NEAR(sd.mean[i], (s1.mean[i] + sb.mean[i]) / 2, 1e-6);
    EXPECT_NEAR(sd.stdev[i], std::fabs(s1.mean[i] - sb.mean[i]) / 2, 1e-6);
  }
  // Normalisation with stored statistics: (r - 1) / 2.
  reward::RewardModelInfo scaled;
  scaled.stats.mean = 1.0;
  scaled.stats.stdev = 2.0;
  scaled.stats.n = 10;
  reward::RewardModel norm({a}, {scaled}, bytes(), 64);
  auto sn = norm.score(prompts, responses);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(sn.mean[i], s1.mean[i], 1e-6);
    EXPECT_NEAR(sn.normalized[i], (s1.mean[i] - 1.0) / 2.0, 1e-6);
  }
  // Batch size does not change scores (length-sorted batches are put back in order).
  auto s_b1 = single.score(prompts, responses, 1);
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(s_b1.mean[i], s1.mean[i], 1e-5);
}

TEST(RewardTraining, LossFallsAndAccuracyRisesOnTinyModel) {
  // 24 pairs where the chosen response contains "yes" and the rejected "no": a tiny trunk
  // learns this in a few dozen steps of the shared Trainer.
  torch::manual_seed(3);
  test_support::ByteTokenizer tok;
  std::vector<data::PreferenceGroup> groups;
  for (int i = 0; i < 24; ++i) {
    data::PreferenceGroup g;
    g.prompt = "\n\nHuman: q" + std::to_string(i) + "\n\nAssistant:";
    g.responses = {" yes " + std::to_string(i % 5), " no " + std::to_string(i % 7)};
    g.level = {0, 1};
    groups.push_back(g);
  }
  auto tg = data::tokenize_groups(groups, tok, 64);
  reward::RewardNet net(test_support::byte_model_config());
  TrainConfig tc;
  tc.steps = 40;
  tc.batch_size = 8;
  tc.lr = 3e-3;
  tc.warmup_steps = 0;
  tc.weight_decay = 0.0;
  Trainer trainer(named_params(*net), tc);
  std::vector<int64_t> all(24);
  std::iota(all.begin(), all.end(), 0);
  auto accuracy_and_loss = [&]() {
    torch::NoGradGuard ng;
    auto b = data::collate_groups(tg, all, 256, 0.0);
    auto parts = reward::reward_loss(net->forward(b.tokens, b.last_index), b.groups, {});
    double acc = static_cast<double>(parts.correct_pairs) / parts.strict_pairs;
    double loss = parts.total.template item<double>();
    return std::make_pair(acc, loss);
  };
  auto [acc0, loss0] = accuracy_and_loss();
  int64_t pos = 0;
  for (int s = 0; s < tc.steps; ++s) {
    trainer.step([&](int64_t) {
      std::vector<int64_t> pick;
      for (int k = 0; k < 8; ++k) pick.push_back(pos++ % 24);
      auto b = data::collate_groups(tg, pick, 256, 0.0);
      auto parts = reward::reward_loss(net->forward(b.tokens, b.last_index), b.groups, {});
      return MicroLoss{parts.preference_sum, static_cast<double>(pick.size()), b.real_tokens};
    });
  }
  auto [acc1, loss1] = accuracy_and_loss();
  EXPECT_LT(loss1, loss0 * 0.5) << "loss " << loss0 << " -> " << loss1;
  EXPECT_GE(acc1, 0.95) << "accuracy " << acc0 << " -> " << acc1;
}

TEST(RewardModel, StoredStatisticsAreTheRawScoresMeanAndStd) {
  torch::manual_seed(21);
  reward::RewardNet a(test_support::byte_model_config());
  reward::RewardModelInfo info;
  reward::RewardModel rm({a}, {info}, bytes(), 64);
  std::vector<data::PreferenceGroup> groups(2);
  groups[0].prompt = "Q one";
  groups[0].responses = {" alpha", " be", " gamma ray"};
  groups[1].prompt = "Q two";
  groups[1].responses = {" x", " yes indeed"};
  // At most 4 responses, in file order: the first group's three and the second group's first.
  auto st = reward::measure_reward_stats(rm, 0, groups, 4, "reference set");
  auto raw = rm.score({"Q one", "Q one", "Q one", "Q two"}, {" alpha", " be", " gamma ray", " x"}).members[0];
  const double mean = std::accumulate(raw.begin(), raw.end(), 0.0) / 4;
  double ss = 0;
  for (double v : raw) ss += (v - mean) * (v - mean);
  EXPECT_EQ(st.n, 4);
  EXPECT_NEAR(st.mean, mean, 1e-9);
  EXPECT_NEAR(st.stdev, std::sqrt(ss / 4), 1e-9);
  EXPECT_EQ(st.reference, "reference set");
}
