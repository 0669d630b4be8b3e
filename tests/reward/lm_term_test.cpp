// The reward model's optional likelihood term: reward = head(h_EOS) + c * sum of the response
// tokens' log-probabilities under the trunk's own LM head. Checked against an independent
// log-softmax of the trunk's logits, for padding invariance, for the gradient reaching c, and for a
// save/load round trip of the learned coefficient.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "reward/test_tokenizer.h"
#include "rlhf/data/preference_batch.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/reward/reward_model.h"

using namespace rlhf;

namespace {
ModelConfig tiny_config() {
  ModelConfig c;
  c.arch = "gpt2";
  c.vocab_size = 257;
  c.n_layer = 1;
  c.n_head = 2;
  c.d_model = 16;
  c.max_seq = 64;
  c.eos_id = 256;
  return c;
}

// Sum of log p(tokens[t] | tokens[<t]) for t in [start, end] of one unpadded sequence, from the
// trunk's full logits.
double response_logprob(reward::RewardNet& net, const std::vector<int64_t>& ids, int64_t start) {
  auto logits = net->trunk->forward(torch::tensor(ids, torch::kLong).unsqueeze(0))[0];  // (T, V)
  auto lp = torch::log_softmax(logits.to(torch::kDouble), -1);
  double s = 0;
  for (int64_t t = std::max<int64_t>(start, 1); t < static_cast<int64_t>(ids.size()); ++t)
    s += lp[t - 1][ids[t]].item<double>();
  return s;
}
}  // namespace

TEST(RewardInput, ResponseStartMarksTheFirstResponseToken) {
  test_support::ByteTokenizer tok;
  int64_t start = -1;
  data::encode_reward_input(tok, "ab", "cd", 10, nullptr, &start);
  EXPECT_EQ(start, 2);
  data::encode_reward_input(tok, "ab", "c", 3, nullptr, &start);  // prompt cut to "b"
  EXPECT_EQ(start, 1);
  data::encode_reward_input(tok, "ab", "cdef", 3, nullptr, &start);  // response cut to "ef"
  EXPECT_EQ(start, 0);
  auto ids = data::encode_reward_input(tok, "ab", "", 10, nullptr, &start);  // empty response: the EOS
  EXPECT_EQ(start, 2);
  EXPECT_EQ(ids[start], 256);
}

TEST(RewardNetLmTerm, EqualsCoefficientTimesResponseLogLikelihood) {
  torch::manual_seed(3);
  reward::RewardNet net(tiny_config());
  net->eval();
  torch::NoGradGuard ng;
  std::vector<int64_t> a = {10, 20, 30, 40, 256}, b = {50, 60, 256};
  std::vector<int64_t> starts = {2, 1};
  auto batch = data::collate_sequences({&a, &b}, 0, &starts);
  auto plain = net->forward(batch.tokens, batch.last_index, batch.response_start);
  EXPECT_FALSE(net->has_lm_term());
  net->enable_lm_term(0.5);
  EXPECT_TRUE(net->has_lm_term());
  EXPECT_NEAR(net->lm_coef(), 0.5, 1e-7);
  auto with = net->forward(batch.tokens, batch.last_index, batch.response_start);
  EXPECT_NEAR(with[0].item<double>() - plain[0].item<double>(), 0.5 * response_logprob(net, a, 2), 1e-4);
  EXPECT_NEAR(with[1].item<double>() - plain[1].item<double>(), 0.5 * response_logprob(net, b, 1), 1e-4);
  // Padding after the shorter row changes nothing.
  std::vector<int64_t> one = {1};
  auto alone = data::collate_sequences({&b}, 0, &one);
  EXPECT_NEAR(net->forward(alone.tokens, alone.last_index, alone.response_start)[0].item<double>(),
              with[1].item<double>(), 1e-5);
  // Without response starts the term cannot be computed: a clear error, not a silent zero.
  EXPECT_THROW(net->forward(batch.tokens, batch.last_index), std::exception);
}

TEST(RewardNetLmTerm, GradientOfTheCoefficientIsTheLogLikelihood) {
  torch::manual_seed(4);
  reward::RewardNet net(tiny_config());
  net->enable_lm_term(0.25);
  std::vector<int64_t> a = {7, 8, 9, 256};
  std::vector<int64_t> starts = {1};
  auto batch = data::collate_sequences({&a}, 0, &starts);
  net->forward(batch.tokens, batch.last_index, batch.response_start).sum().backward();
  torch::Tensor coef;
  for (const auto& p : net->named_parameters())
    if (p.key() == "lm_coef") coef = p.value();
  ASSERT_TRUE(coef.defined());
  double expect;
  {
    torch::NoGradGuard ng;
    expect = response_logprob(net, a, 1);
  }
  EXPECT_NEAR(coef.grad().item<double>(), expect, 1e-4);
  EXPECT_LT(expect, 0.0);
}

TEST(RewardNetLmTerm, LearnedCoefficientSurvivesSaveAndLoad) {
  torch::manual_seed(5);
  reward::RewardNet net(tiny_config());
  net->enable_lm_term(0.75);
  test_support::ByteTokenizer tok;
  reward::RewardModelInfo info;
  std::string dir = ::testing::TempDir() + "/rm_lm_term";
  reward::save_reward_model(dir, net, tok, info);
  auto j = io::read_json(dir + "/reward_config.json");
  EXPECT_EQ(j.at("lm_term").get<bool>(), true);
  EXPECT_NEAR(j.at("lm_coef").get<double>(), 0.75, 1e-7);
  torch::manual_seed(6);
  reward::RewardNet other(tiny_config());
  reward::load_reward_weights(dir, other);
  ASSERT_TRUE(other->has_lm_term());
  EXPECT_NEAR(other->lm_coef(), 0.75, 1e-7);
  torch::NoGradGuard ng;
  std::vector<int64_t> a = {3, 4, 5, 256};
  std::vector<int64_t> starts = {2};
  auto batch = data::collate_sequences({&a}, 0, &starts);
  net->eval();
  other->eval();
  EXPECT_NEAR(net->forward(batch.tokens, batch.last_index, batch.response_start).item<double>(),
              other->forward(batch.tokens, batch.last_index, batch.response_start).item<double>(), 1e-6);
}
