// generate(): KV-cached decoding against full recomputation, log-probs against a separate full
// forward, batching against one-by-one, seeding, truncation and stop tokens; for both layouts
// and both backends (libtorch reference and the fast CPU path).
#include <gtest/gtest.h>

#include <cmath>

#include "generation/test_models.h"
#include "rlhf/generation/generate.h"
#include "rlhf/io/error.h"

namespace rlhf {
namespace {

using testing::tiny_model;
using Prompts = std::vector<std::vector<int64_t>>;

// (arch, backend)
class GenerateTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  std::string arch() const { return std::get<0>(GetParam()); }
  GenerateOptions opts() const {
    GenerateOptions o;
    o.backend = std::get<1>(GetParam());
    return o;
  }
};

SamplingConfig greedy(int64_t n) {
  SamplingConfig c;
  c.temperature = 0;
  c.max_new_tokens = n;
  c.stop_ids = std::vector<int64_t>{};
  return c;
}

// Full forward (no cache) over one sequence -> (T, V) float logits.
torch::Tensor full_logits(Transformer& m, const std::vector<int64_t>& seq) {
  torch::NoGradGuard ng;
  auto t = torch::tensor(seq, torch::kLong).unsqueeze(0);
  return m->forward(t).squeeze(0).to(torch::kFloat);
}

// Greedy decoding recomputing the whole sequence every step (no KV cache).
std::vector<int64_t> greedy_reference(Transformer& m, std::vector<int64_t> seq, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    auto logits = full_logits(m, seq);
    int64_t tok = logits[-1].argmax().item<int64_t>();
    out.push_back(tok);
    seq.push_back(tok);
  }
  return out;
}

const Prompts kPrompts = {{5, 9, 14}, {7, 1, 2, 8, 30, 11, 4}, {42}, {10, 20, 30, 40, 50}};

TEST_P(GenerateTest, KvCachedGreedyEqualsFullRecompute) {
  auto m = tiny_model(arch());
  auto res = generate(m, kPrompts, greedy(16), opts());
  ASSERT_EQ(res.size(), kPrompts.size());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    EXPECT_EQ(res[i].tokens, greedy_reference(m, kPrompts[i], 16)) << "row " << i;
    EXPECT_FALSE(res[i].finished);
    for (float lp : res[i].logprobs) EXPECT_EQ(lp, 0.0f);  // greedy: a point mass
  }
}

TEST_P(GenerateTest, ModelLogprobsEqualFullForward) {
  auto m = tiny_model(arch());
  SamplingConfig c;
  c.temperature = 0.8;
  c.top_k = 20;
  c.max_new_tokens = 12;
  c.stop_ids = std::vector<int64_t>{};
  c.seed = 7;
  auto res = generate(m, kPrompts, c, opts());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    std::vector<int64_t> seq = kPrompts[i];
    seq.insert(seq.end(), res[i].tokens.begin(), res[i].tokens.end());
    auto logits = full_logits(m, seq);
    auto lsm = torch::log_softmax(logits, -1);
    const int64_t P = static_cast<int64_t>(kPrompts[i].size());
    for (size_t t = 0; t < res[i].tokens.size(); ++t) {
      const int64_t tok = res[i].tokens[t];
      auto row = logits[P - 1 + t];
      EXPECT_NEAR(res[i].model_logprobs[t], lsm[P - 1 + t][tok].item<float>(), 1e-4) << "row " << i << " t " << t;
      // Sampling distribution: temperature 0.8, then the top 20 renormalised.
      auto top = std::get<0>(row.topk(20));
      float kth = top[-1].item<float>();
      ASSERT_GE(row[tok].item<float>(), kth);
      auto scaled = top / 0.8;
      float expect = (row[tok] / 0.8 - torch::logsumexp(scaled, 0)).item<float>();
      EXPECT_NEAR(res[i].logprobs[t], expect, 1e-4);
    }
  }
}

TEST_P(GenerateTest, BatchedGreedyEqualsOneByOne) {
  auto m = tiny_model(arch());
  auto batched = generate(m, kPrompts, greedy(10), opts());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    auto single = generate(m, {kPrompts[i]}, greedy(10), opts());
    EXPECT_EQ(batched[i].tokens, single[0].tokens) << "row " << i;
    for (size_t t = 0; t < single[0].tokens.size(); ++t)
      EXPECT_NEAR(batched[i].model_logprobs[t], single[0].model_logprobs[t], 1e-4);
  }
}

TEST_P(GenerateTest, SeededSamplingIsReproducibleAndSeedsDiffer) {
  auto m = tiny_model(arch());
  SamplingConfig c;
  c.temperature = 1.0;
  c.max_new_tokens = 20;
  c.stop_ids = std::vector<int64_t>{};
  c.seed = 11;
  auto a = generate(m, kPrompts, c, opts());
  auto b = generate(m, kPrompts, c, opts());
  c.seed = 12;
  auto d = generate(m, kPrompts, c, opts());
  int differ = 0;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    EXPECT_EQ(a[i].logprobs, b[i].logprobs);
    differ += a[i].tokens != d[i].tokens;
  }
  EXPECT_GE(differ, 3);
}

TEST_P(GenerateTest, TopK1AndTinyTopPEqualGreedy) {
  auto m = tiny_model(arch());
  auto ref = generate(m, kPrompts, greedy(10), opts());
  SamplingConfig k1 = greedy(10);
  k1.temperature = 1.3;
  k1.top_k = 1;
  SamplingConfig p0 = greedy(10);
  p0.temperature = 0.9;
  p0.top_p = 1e-6;
  auto a = generate(m, kPrompts, k1, opts());
  auto b = generate(m, kPrompts, p0, opts());
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    EXPECT_EQ(a[i].tokens, ref[i].tokens);
    EXPECT_EQ(b[i].tokens, ref[i].tokens);
    for (float lp : a[i].logprobs) EXPECT_NEAR(lp, 0.0f, 1e-6);  // one token kept: probability 1
  }
}

TEST_P(GenerateTest, StopTokenEndsRowAndMaxNewTokensHolds) {
  auto m = tiny_model(arch());
  auto free_run = generate(m, kPrompts, greedy(12), opts());
  // Stop on the token row 1 produces at step 4: row 1 must end right there (finished), other
  // rows end at their own first occurrence of it, or run to the limit.
  const int64_t stop = free_run[1].tokens[4];
  SamplingConfig c = greedy(12);
  c.stop_ids = std::vector<int64_t>{stop};
  GenerateOptions o = opts();
  o.compact_fraction = 0.01;  // torch backend: compact as soon as any row finishes
  auto res = generate(m, kPrompts, c, o);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    const auto& full = free_run[i].tokens;
    auto it = std::find(full.begin(), full.end(), stop);
    if (it == full.end()) {
      EXPECT_EQ(res[i].tokens, full);
      EXPECT_FALSE(res[i].finished);
    } else {
      std::vector<int64_t> prefix(full.begin(), it + 1);
      EXPECT_EQ(res[i].tokens, prefix) << "row " << i;
      EXPECT_TRUE(res[i].finished);
      EXPECT_EQ(res[i].model_logprobs.size(), prefix.size());
    }
  }
  EXPECT_TRUE(res[1].finished);
  EXPECT_LE(res[1].tokens.size(), 5u);
  for (auto& r : generate(m, kPrompts, greedy(3), opts())) EXPECT_EQ(r.tokens.size(), 3u);
}

TEST_P(GenerateTest, DefaultStopIsModelEos) {
  auto m = tiny_model(arch());
  auto free_run = generate(m, {kPrompts[0]}, greedy(12), opts());
  ModelConfig cfg = m->config();
  SamplingConfig c = greedy(12);
  c.stop_ids.reset();  // -> the model's eos_id (3)
  auto res = generate(m, {kPrompts[0]}, c, opts());
  const auto& full = free_run[0].tokens;
  auto it = std::find(full.begin(), full.end(), cfg.eos_id);
  EXPECT_EQ(res[0].tokens, std::vector<int64_t>(full.begin(), it == full.end() ? full.end() : it + 1));
}

INSTANTIATE_TEST_SUITE_P(Layouts, GenerateTest,
                         ::testing::Combine(::testing::Values("gpt2", "llama"), ::testing::Values("torch", "fast")),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

TEST(GenerateBackends, FastMatchesTorchWhenSampling) {
  for (std::string arch : {"gpt2", "llama"}) {
    auto m = tiny_model(arch, 3);
    SamplingConfig c;
    c.temperature = 1.0;
    c.top_p = 0.9;
    c.max_new_tokens = 16;
    c.stop_ids = std::vector<int64_t>{};
    c.seed = 5;
    GenerateOptions t, f;
    t.backend = "torch";
    f.backend = "fast";
    auto a = generate(m, kPrompts, c, t), b = generate(m, kPrompts, c, f);
    for (size_t i = 0; i < kPrompts.size(); ++i) {
      EXPECT_EQ(a[i].tokens, b[i].tokens) << arch << " row " << i;
      for (size_t j = 0; j < std::min(a[i].tokens.size(), b[i].tokens.size()); ++j)
        EXPECT_NEAR(a[i].logprobs[j], b[i].logprobs[j], 1e-4);
    }
  }
}

TEST(GenerateBackends, Bf16FastPathTracksTheBf16Model) {
  auto m = tiny_model("gpt2", 4);
  m->to(torch::kBFloat16);
  GenerateOptions f;
  f.backend = "fast";
  auto res = generate(m, kPrompts, greedy(8), f);
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    std::vector<int64_t> seq = kPrompts[i];
    seq.insert(seq.end(), res[i].tokens.begin(), res[i].tokens.end());
    auto lsm = torch::log_softmax(full_logits(m, seq), -1);
    const int64_t P = static_cast<int64_t>(kPrompts[i].size());
    for (size_t t = 0; t < res[i].tokens.size(); ++t)
      EXPECT_NEAR(res[i].model_logprobs[t], lsm[P - 1 + t][res[i].tokens[t]].item<float>(), 0.15);
  }
}

// bf16_weights on an fp32 model runs the engine a bf16 copy of the model gets: with every
// parameter already a bf16 value (so the copy holds the same numbers), the same tokens and
// log-probs; and log-probs that differ from the fp32 engine's (the option takes effect).
TEST(GenerateBackends, Bf16WeightsOptionEqualsTheBf16Model) {
  auto m = tiny_model("gpt2", 4);
  {
    torch::NoGradGuard ng;
    for (auto& p : m->parameters()) p.copy_(p.to(torch::kBFloat16).to(torch::kFloat));
  }
  auto m16 = clone_transformer(m);
  m16->to(torch::kBFloat16);
  SamplingConfig c = greedy(8);
  c.temperature = 1.0;
  c.seed = 3;
  GenerateOptions f, f16;
  f.backend = f16.backend = "fast";
  f16.bf16_weights = true;
  auto a = generate(m, kPrompts, c, f16), b = generate(m16, kPrompts, c, f), fp = generate(m, kPrompts, c, f);
  double moved = 0;
  for (size_t i = 0; i < kPrompts.size(); ++i) {
    ASSERT_EQ(a[i].tokens, b[i].tokens) << "row " << i;
    for (size_t j = 0; j < a[i].tokens.size(); ++j) {
      EXPECT_FLOAT_EQ(a[i].model_logprobs[j], b[i].model_logprobs[j]);
      if (j < fp[i].tokens.size() && fp[i].tokens[j] == a[i].tokens[j])
        moved = std::max(moved, static_cast<double>(std::abs(fp[i].model_logprobs[j] - a[i].model_logprobs[j])));
    }
  }
  EXPECT_GT(moved, 1e-5);
}

TEST(GenerateErrors, RejectsBadInput) {
  auto m = tiny_model("gpt2");
  SamplingConfig c = greedy(70);  // 3 + 70 > max_seq 64
  EXPECT_THROW(generate(m, {{1, 2, 3}}, c, {}), Error);
  EXPECT_THROW(generate(m, {{}}, greedy(2), {}), Error);
  EXPECT_THROW(generate(m, {{1000}}, greedy(2), {}), Error);
  SamplingConfig bad = greedy(2);
  bad.temperature = -1;
  EXPECT_THROW(generate(m, {{1}}, bad, {}), Error);
  bad = greedy(2);
  bad.top_p = 0;
  EXPECT_THROW(bad.validate(), Error);
  GenerateOptions o;
  o.backend = "warp";
  EXPECT_THROW(generate(m, {{1}}, greedy(2), o), Error);
}

}  // namespace
}  // namespace rlhf
