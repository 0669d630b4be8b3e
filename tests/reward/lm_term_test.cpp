// The reward model's optional likelihood term: reward = head(h_EOS) + c * sum of the response
// tokens' log-probabilities under the trunk's own LM head. Checked against an independent
// log-softmax of the trunk's logits, for padding invariance, for the gradient reaching c, and for a
// save/load round trip of the learned coefficient. The length-normalised ("mean") and
// reference-relative ("ref") modes are checked the same way, against per-token sums computed here.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "reward/test_tokenizer.h"
#include "rlhf/data/preference_batch.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/reward/reward_model.h"

using namespace rlhf;

namespace {

// Sum of log p(tokens[t] | tokens[<t]) for t in [start, end] of one unpadded sequence, from the
// trunk's full logits.
double transformer_logprob(Transformer& lm, const std::vector<int64_t>& ids, int64_t start) {
  auto logits = lm->forward(torch::tensor(ids, torch::kLong).unsqueeze(0))[0];  // (T, V)
  auto lp = torch::log_softmax(logits.to(torch::kDouble), -1);
  double s = 0;
  for (int64_t t = std::max<int64_t>(start, 1); t < static_cast<int64_t>(ids.size()); ++t)
    s += lp[t - 1][ids[t]].item<double>();
  return s;
}

// The same from the reward model's own trunk.
double response_logprob(reward::RewardNet& net, const std::vector<int64_t>& ids, int64_t start) {
  return transformer_logprob(net->trunk, ids, start);
}

// d(reward of the one row `ids`, response from token 1) / d(lm_coef), by backward.
double lm_coef_grad(reward::RewardNet& net, const std::vector<int64_t>& ids) {
  std::vector<int64_t> starts = {1};
  auto batch = data::collate_sequences({&ids}, 0, &starts);
  net->forward(batch.tokens, batch.last_index, batch.response_start).sum().backward();
  for (const auto& p : net->named_parameters())
    if (p.key() == "lm_coef") return p.value().grad().item<double>();
  ADD_FAILURE() << "no lm_coef parameter";
  return 0;
}

// Rewards of rows a (response from 2) and b (response from 1), batched together with padding.
torch::Tensor rewards(reward::RewardNet& net, const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> starts = {2, 1};
  auto batch = data::collate_sequences({&a, &b}, 0, &starts);
  return net->forward(batch.tokens, batch.last_index, batch.response_start);
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
  reward::RewardNet net(test_support::byte_model_config());
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
  reward::RewardNet net(test_support::byte_model_config());
  net->enable_lm_term(0.25);
  std::vector<int64_t> a = {7, 8, 9, 256};
  const double grad = lm_coef_grad(net, a);
  double expect;
  {
    torch::NoGradGuard ng;
    expect = response_logprob(net, a, 1);
  }
  EXPECT_NEAR(grad, expect, 1e-4);
  EXPECT_LT(expect, 0.0);
}

TEST(RewardNetLmTerm, LearnedCoefficientSurvivesSaveAndLoad) {
  torch::manual_seed(5);
  reward::RewardNet net(test_support::byte_model_config());
  net->enable_lm_term(0.75);
  test_support::ByteTokenizer tok;
  reward::RewardModelInfo info;
  std::string dir = ::testing::TempDir() + "/rm_lm_term";
  reward::save_reward_model(dir, net, tok, info);
  auto j = io::read_json(dir + "/reward_config.json");
  EXPECT_EQ(j.at("lm_term").get<bool>(), true);
  EXPECT_NEAR(j.at("lm_coef").get<double>(), 0.75, 1e-7);
  torch::manual_seed(6);
  reward::RewardNet other(test_support::byte_model_config());
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

TEST(RewardNetLmTerm, MeanModeDividesByTheResponseTokenCount) {
  torch::manual_seed(7);
  reward::RewardNet net(test_support::byte_model_config());
  net->eval();
  torch::NoGradGuard ng;
  std::vector<int64_t> a = {10, 20, 30, 40, 256}, b = {50, 60, 70, 80, 90, 256};
  auto plain = rewards(net, a, b);
  net->enable_lm_term(0.5, reward::LmMode::Mean);
  EXPECT_EQ(net->lm_mode(), reward::LmMode::Mean);
  auto with = rewards(net, a, b);
  // a: tokens 30, 40, EOS (3); b: 60, 70, 80, 90, EOS (5).
  EXPECT_NEAR(with[0].item<double>() - plain[0].item<double>(), 0.5 * response_logprob(net, a, 2) / 3, 1e-5);
  EXPECT_NEAR(with[1].item<double>() - plain[1].item<double>(), 0.5 * response_logprob(net, b, 1) / 5, 1e-5);
}

TEST(RewardNetLmTerm, RefModeSubtractsTheReferenceLogLikelihood) {
  torch::manual_seed(8);
  reward::RewardNet net(test_support::byte_model_config());
  net->eval();
  torch::manual_seed(9);
  Transformer ref(test_support::byte_model_config());
  ref->eval();
  torch::NoGradGuard ng;
  std::vector<int64_t> a = {10, 20, 30, 40, 256}, b = {50, 60, 70, 256};
  auto plain = rewards(net, a, b);
  net->enable_lm_term(0.5, reward::LmMode::Ref);
  // Without its reference the mode cannot be computed: an error, not the plain sum.
  EXPECT_THROW(rewards(net, a, b), std::exception);
  net->set_lm_reference(ref);
  auto with = rewards(net, a, b);
  double da = response_logprob(net, a, 2) - transformer_logprob(ref, a, 2);
  double db = response_logprob(net, b, 1) - transformer_logprob(ref, b, 1);
  EXPECT_GT(std::abs(da), 1e-3);  // different weights: the term is not trivially zero
  EXPECT_NEAR(with[0].item<double>() - plain[0].item<double>(), 0.5 * da, 1e-4);
  EXPECT_NEAR(with[1].item<double>() - plain[1].item<double>(), 0.5 * db, 1e-4);
}

TEST(RewardNetLmTerm, RefModeGradientReachesTheTrunkButNotTheReference) {
  torch::manual_seed(10);
  reward::RewardNet net(test_support::byte_model_config());
  torch::manual_seed(11);
  Transformer ref(test_support::byte_model_config());
  net->enable_lm_term(0.25, reward::LmMode::Ref);
  net->set_lm_reference(ref);
  std::vector<int64_t> a = {7, 8, 9, 256};
  const double grad = lm_coef_grad(net, a);
  double expect;
  {
    torch::NoGradGuard ng;
    net->eval();
    expect = response_logprob(net, a, 1) - transformer_logprob(ref, a, 1);
  }
  EXPECT_NEAR(grad, expect, 1e-4);
  for (const auto& p : ref->parameters()) EXPECT_FALSE(p.grad().defined());
  // The reference is not part of the reward model's parameters (not trained, not saved).
  EXPECT_EQ(net->named_parameters().size(), net->trunk->named_parameters().size() +
                                                net->head->named_parameters().size() + 1);
}

TEST(RewardNetLmTerm, ModeAndReferenceSurviveSaveAndLoad) {
  test_support::ByteTokenizer tok;
  const std::string root = ::testing::TempDir();
  // Any checkpoint folder holds a trunk: a saved reward model serves as the reference.
  torch::manual_seed(12);
  reward::RewardNet ref_net(test_support::byte_model_config());
  reward::save_reward_model(root + "/rm_lm_ref_base", ref_net, tok, {});
  torch::manual_seed(13);
  reward::RewardNet net(test_support::byte_model_config());
  net->enable_lm_term(0.6, reward::LmMode::Ref);
  net->set_lm_reference(ref_net->trunk);
  reward::RewardModelInfo info;
  info.base = root + "/rm_lm_ref_base";
  info.lm_mode = "sum";  // the saved mode is the net's
  reward::save_reward_model(root + "/rm_lm_ref", net, tok, info);
  auto j = io::read_json(root + "/rm_lm_ref/reward_config.json");
  EXPECT_EQ(j.at("lm_mode").get<std::string>(), "ref");
  torch::manual_seed(14);
  reward::RewardNet loaded(test_support::byte_model_config());
  reward::load_reward_weights(root + "/rm_lm_ref", loaded);
  ASSERT_TRUE(loaded->has_lm_term());
  EXPECT_EQ(loaded->lm_mode(), reward::LmMode::Ref);
  ASSERT_TRUE(loaded->has_lm_reference());
  {
    torch::NoGradGuard ng;
    net->eval();
    loaded->eval();
    std::vector<int64_t> a = {3, 4, 5, 6, 256};
    std::vector<int64_t> starts = {2};
    auto batch = data::collate_sequences({&a}, 0, &starts);
    EXPECT_NEAR(loaded->forward(batch.tokens, batch.last_index, batch.response_start).item<double>(),
                net->forward(batch.tokens, batch.last_index, batch.response_start).item<double>(), 1e-5);
  }
  // lm_reference wins over base; a missing reference is an error naming the field.
  j["lm_reference"] = root + "/no_such_model";
  io::write_json_atomic(root + "/rm_lm_ref/reward_config.json", j);
  reward::RewardNet again(test_support::byte_model_config());
  try {
    reward::load_reward_weights(root + "/rm_lm_ref", again);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("lm_reference"), std::string::npos) << e.what();
  }
  j["lm_mode"] = "median";
  io::write_json_atomic(root + "/rm_lm_ref/reward_config.json", j);
  EXPECT_THROW(reward::load_reward_weights(root + "/rm_lm_ref", again), std::exception);
}

TEST(RewardNetLmTerm, ParsesModes) {
  EXPECT_EQ(reward::parse_lm_mode("sum"), reward::LmMode::Sum);
  EXPECT_EQ(reward::parse_lm_mode("mean"), reward::LmMode::Mean);
  EXPECT_EQ(reward::parse_lm_mode("ref"), reward::LmMode::Ref);
  EXPECT_THROW(reward::parse_lm_mode("avg"), std::exception);
  EXPECT_EQ(reward::to_string(reward::LmMode::Ref), "ref");
}
