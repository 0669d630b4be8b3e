// PPO machinery on tiny models: rollout layout and masking, recomputed log-probs equal to the
// generator's (importance ratio 1 before the first update), and the toy task where the reward
// is a known function of the text (+1 per "banana"): reward rises with KL bounded.
#include <gtest/gtest.h>

#include <map>

#include "kernels/train_ops_bf16.h"
#include "rl/toy.h"
#include "rlhf/rl/ppo_trainer.h"
#include "rlhf/rl/rules.h"

using namespace rlhf;
using namespace rlhf::rl;

namespace {

GeneratedRow row(std::vector<int64_t> toks, bool finished) {
  GeneratedRow r;
  r.tokens = toks;
  for (size_t i = 0; i < toks.size(); ++i) r.model_logprobs.push_back(-0.5f - i), r.logprobs.push_back(-1);
  r.finished = finished;
  return r;
}

PolicyModels toy_models(int64_t vocab, bool critic, uint64_t seed = 1) {
  PolicyModels m;
  m.policy = test::toy_model(vocab, seed);
  m.reference = clone_transformer(m.policy);
  if (critic) {
    m.value_trunk = clone_transformer(m.policy);
    m.value_head = ScalarHead(m.policy->config().d_model);
  }
  return m;
}

std::vector<std::string> toy_prompts() {
  return {"say the cat", "say a dog please", "the big red mat", "say now", "please say", "a cat sat on the mat",
          "dog ran", "say banana"};
}

}  // namespace

TEST(Rollout, LeftPadsPromptsRightPadsResponsesAndMasksAfterTheEnd) {
  // Row 0: prompt 3 tokens, response 2 ending in the stop token 0; row 1: prompt 1, response 3 (cut).
  auto b = make_rollout_batch({{5, 6, 7}, {9}}, {row({4, 0}, true), row({3, 3, 3}, false)}, /*pad_id=*/0);
  EXPECT_EQ(b.prompt_len, 3);
  EXPECT_EQ(b.resp_len(), 3);
  auto seq = b.seq.accessor<int64_t, 2>();
  auto am = b.attn_mask.accessor<int64_t, 2>();
  std::vector<int64_t> seq0 = {5, 6, 7, 4, 0, 0}, am0 = {1, 1, 1, 1, 1, 0};
  std::vector<int64_t> seq1 = {0, 0, 9, 3, 3, 3}, am1 = {0, 0, 1, 1, 1, 1};
  for (int j = 0; j < 6; ++j) {
    EXPECT_EQ(seq[0][j], seq0[j]);
    EXPECT_EQ(am[0][j], am0[j]);
    EXPECT_EQ(seq[1][j], seq1[j]);
    EXPECT_EQ(am[1][j], am1[j]);
  }
  // The end token is a real (trained) token; the position after it is not.
  EXPECT_EQ(b.mask[0][0].item<float>(), 1);
  EXPECT_EQ(b.mask[0][1].item<float>(), 1);
  EXPECT_EQ(b.mask[0][2].item<float>(), 0);
  EXPECT_EQ(b.mask[1].sum().item<float>(), 3);
  // Positions restart at 0 on each row's first real token.
  EXPECT_EQ(b.position_ids[1][2].item<int64_t>(), 0);
  EXPECT_EQ(b.position_ids[1][5].item<int64_t>(), 3);
  EXPECT_EQ(b.position_ids[0][3].item<int64_t>(), 3);
  EXPECT_FLOAT_EQ(b.gen_logprobs[1][2].item<float>(), -2.5f);
  EXPECT_FLOAT_EQ(b.gen_logprobs[0][2].item<float>(), 0.f);
  EXPECT_FALSE(b.finished[1].item<bool>());
}

TEST(Rollout, PaddingAndPostEndTokensDoNotChangeRealLogprobs) {
  auto model = test::toy_model(16, 3);
  torch::NoGradGuard ng;
  auto b = make_rollout_batch({{5, 6, 7}, {9}}, {row({4, 0}, true), row({3, 2, 8}, false)}, 0);
  auto lp = response_logprobs(model, b, true);
  // Change what sits in padded slots (left prompt pad and post-end response pad).
  auto b2 = b;
  b2.seq = b.seq.clone();
  b2.seq[1][0] = 13;
  b2.seq[1][1] = 11;
  b2.seq[0][5] = 12;
  b2.response = b.response.clone();
  b2.response[0][2] = 12;
  auto lp2 = response_logprobs(model, b2, true);
  EXPECT_TRUE(torch::allclose(lp.logp, lp2.logp, 0, 1e-6));
  EXPECT_EQ(lp.logp[0][2].item<float>(), 0.f);     // masked
  EXPECT_EQ(lp.entropy[0][2].item<float>(), 0.f);  // masked
  // Row 1 alone (no padding at all) gives the same log-probs as inside the padded batch.
  auto single = make_rollout_batch({{9}}, {row({3, 2, 8}, false)}, 0);
  auto lp1 = response_logprobs(model, single);
  EXPECT_TRUE(torch::allclose(lp1.logp[0], lp.logp[1], 1e-5, 1e-5)) << lp1.logp << lp.logp;
}

TEST(Rollout, TrimPaddingDropsCommonPaddingAndKeepsLogprobs) {
  auto model = test::toy_model(16, 3);
  torch::NoGradGuard ng;
  // Rows 1 and 2 of a batch whose longest prompt (row 0, 4 tokens) and longest response (row 0,
  // 4 tokens) are not among them: one leading pad column and one response column are common.
  auto b = make_rollout_batch({{5, 6, 7, 8}, {9, 10, 11}, {12, 2}},
                              {row({4, 3, 2, 1}, false), row({4, 0}, true), row({3, 2, 8}, false)}, 0);
  auto idx = torch::tensor(std::vector<int64_t>{1, 2}, torch::kLong);
  auto sub = select_rows(b, idx);
  auto t = trim_padding(sub);
  EXPECT_EQ(t.prompt_len, 3);
  EXPECT_EQ(t.resp_len(), 3);
  EXPECT_EQ(t.seq.size(1), 6);
  EXPECT_EQ(t.seq[0][0].item<int64_t>(), 9);  // row 1 now starts without padding
  EXPECT_EQ(t.attn_mask[1][0].item<int64_t>(), 0);
  auto full = response_logprobs(model, sub, true).logp.narrow(1, 0, 3);
  auto cut = response_logprobs(model, t, true).logp;
  EXPECT_TRUE(torch::allclose(full, cut, 1e-5, 1e-6)) << full << cut;
  // Nothing to cut: the same batch back. A sub-batch without left padding takes the unmasked path
  // and still matches.
  EXPECT_EQ(trim_padding(b).seq.size(1), b.seq.size(1));
  auto one = trim_padding(select_rows(b, torch::tensor(std::vector<int64_t>{2}, torch::kLong)));
  EXPECT_EQ(one.prompt_len, 2);
  EXPECT_EQ(one.resp_len(), 3);
  EXPECT_TRUE(torch::allclose(response_logprobs(model, one).logp[0], full[1], 1e-5, 1e-6));
}

TEST(Rollout, RecomputedLogprobsEqualTheGenerators) {
  test::WordTokenizer tok(test::toy_words());
  auto model = test::toy_model(tok.vocab_size(), 5);
  std::vector<std::vector<int64_t>> prompts = {{3, 4, 5}, {6}, {7, 8, 9, 10, 11}, {12, 13}};
  SamplingConfig sc;
  sc.max_new_tokens = 10;
  sc.stop_ids = std::vector<int64_t>{0};
  sc.seed = 7;
  for (std::string backend : {"torch", "fast"}) {
    GenerateOptions go;
    go.backend = backend;
    auto rows = generate(model, prompts, sc, go);
    auto b = make_rollout_batch(prompts, rows, 0);
    torch::NoGradGuard ng;
    auto lp = response_logprobs(model, b);
    double diff = ((lp.logp - b.gen_logprobs).abs() * b.mask).max().item<double>();
    EXPECT_LT(diff, 1e-5) << backend;
    EXPECT_GT(b.mask.sum().item<double>(), 8);  // something was generated
  }
}

// The update's replayed forward (the decode engine's recorded activations, no products) must give
// what the plain training forward gives: the same log-probs and entropies, and the same gradients
// for every parameter — with left padding, rows that ended early, a permuted and trimmed
// sub-batch, and the last layer run on the response rows only. Under bf16 both sides round their
// products' operands to bf16 along different paths, so the tolerance is looser there (a wrong
// row, column or layer gives errors of the gradients' own size).
TEST(Rollout, ReplayedForwardGivesThePlainForwardsGradients) {
  test::WordTokenizer tok(test::toy_words());
  // The toy layout (tied LM head) and GPT-2 with its own LM head.
  ModelConfig untied = test::toy_model(tok.vocab_size(), 5)->config();
  untied.tie_embeddings = false;
  for (bool tied : {true, false}) {
  SCOPED_TRACE(tied ? "tied LM head" : "untied LM head");
  torch::manual_seed(5);
  auto model = tied ? test::toy_model(tok.vocab_size(), 5) : Transformer(untied);
  std::vector<std::vector<int64_t>> prompts = {{3, 4, 5}, {6}, {7, 8, 9, 10, 11}, {12, 13}};
  const std::vector<int64_t> order = {2, 0, 3};  // the recorded sub-batch: three rows, permuted
  SamplingConfig sc;
  sc.max_new_tokens = 9;
  sc.stop_ids = std::vector<int64_t>{0, 4, 9};
  sc.seed = 11;
  for (const std::string dtype : {"fp32", "bf16"}) {
    SCOPED_TRACE(dtype);
    const bool bf16 = dtype == "bf16";
    DecodeRecording rec;
    rec.part.assign(prompts.size(), -1);
    rec.row.assign(prompts.size(), 0);
    rec.col0.assign(prompts.size(), 0);
    for (auto& p : prompts) rec.prompt_len.push_back(static_cast<int64_t>(p.size()));
    DecodeRecording::Part part;
    part.rows = static_cast<int64_t>(order.size());
    for (int64_t r : order) part.prompt = std::max<int64_t>(part.prompt, prompts[r].size());
    part.cols = part.prompt + sc.max_new_tokens - 1;
    part.resp_cols = sc.max_new_tokens;
    for (size_t j = 0; j < order.size(); ++j) {
      rec.part[order[j]] = 0;
      rec.row[order[j]] = static_cast<int64_t>(j);
      rec.col0[order[j]] = part.prompt - rec.prompt_len[order[j]];
    }
    rec.parts.push_back(part);
    rec.allocate(model->config());
    GenerateOptions go;
    go.backend = "fast";
    go.bf16_weights = bf16;
    go.record = &rec;
    auto rows = generate(model, prompts, sc, go);
    auto b = make_rollout_batch(prompts, rows, 0);
    auto sub = trim_padding(select_rows(b, torch::tensor(order, torch::kLong)));
    int64_t ended = 0, cut = 0;
    for (int64_t r : order) (rows[r].finished ? ended : cut) += 1;
    ASSERT_GT(ended, 0);  // the case this test is about: rows shorter than the batch
    ASSERT_GT(sub.resp_len(), 1);
    // What the engine did not write (left padding of the shorter prompts) is zero.
    const int64_t r1 = rec.row[0];  // prompt of 3 tokens under a part prompt of 5
    EXPECT_EQ(rec.parts[0].act.qkv[1][r1].narrow(0, 0, 2).abs().max().item<float>(), 0.0f);
    EXPECT_GT(rec.parts[0].act.qkv[1][r1][2].abs().max().item<float>(), 0.0f);

    auto run = [&](bool replay, std::vector<torch::Tensor>& grads) {
      kernels::TrainMatmulDtypeGuard guard(bf16 ? torch::kBFloat16 : torch::kFloat);
      for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
      auto lp = replay ? response_logprobs_replay(model, sub, rec.parts[0], true, true)
                       : response_logprobs(model, sub, true, true);
      // A loss that weighs every response position differently, with an entropy bonus (whose
      // gradient goes through the full log-softmax of the logits).
      auto w = torch::linspace(-1.0, 2.0, lp.logp.numel()).view(lp.logp.sizes());
      ((lp.logp * w).sum() - 0.1 * (lp.entropy * sub.mask).sum()).backward();
      for (auto& p : model->parameters()) grads.push_back(p.grad().clone());
      return lp;
    };
    std::vector<torch::Tensor> ga, gb;
    auto a = run(true, ga);
    auto p = run(false, gb);
    const double lp_tol = bf16 ? 5e-2 : 1e-5;
    EXPECT_LT((a.logp - p.logp).abs().max().item<double>(), lp_tol);
    EXPECT_LT((a.entropy - p.entropy).abs().max().item<double>(), lp_tol);
    // The replayed log-probs are the generator's (the same logits).
    EXPECT_LT(((a.logp - sub.gen_logprobs).abs() * sub.mask).max().item<double>(), 1e-5);
    ASSERT_EQ(ga.size(), gb.size());
    const double rel = bf16 ? 5e-2 : 1e-4;
    for (size_t i = 0; i < ga.size(); ++i) {
      const double scale = gb[i].abs().max().item<double>();
      EXPECT_GT(scale, 0.0) << "parameter " << i;
      EXPECT_LE((ga[i] - gb[i]).abs().max().item<double>(), rel * scale + 1e-7) << "parameter " << i;
    }
  }
  }
}

TEST(Rollout, RecordingNeedsTheFastBackend) {
  test::WordTokenizer tok(test::toy_words());
  auto model = test::toy_model(tok.vocab_size(), 5);
  DecodeRecording rec;
  rec.part.assign(1, -1);
  rec.row.assign(1, 0);
  rec.col0.assign(1, 0);
  rec.prompt_len.assign(1, 1);
  SamplingConfig sc;
  sc.max_new_tokens = 2;
  GenerateOptions go;
  go.backend = "torch";
  go.record = &rec;
  EXPECT_THROW(generate(model, {{3}}, sc, go), rlhf::Error);
  go.backend = "fast";
  EXPECT_THROW(generate(model, {{3}, {4}}, sc, go), rlhf::Error);  // planned for one row, given two
}

TEST(Ppo, RatioIsOneBeforeTheFirstUpdateAndParametersMove) {
  auto tok = std::make_shared<test::WordTokenizer>(test::toy_words());
  PpoConfig cfg;
  cfg.batch_prompts = 4;
  cfg.max_new_tokens = 8;
  cfg.mini_batch = 4;
  cfg.micro_batch = 2;
  cfg.ppo_epochs = 2;
  cfg.iterations = 1;
  TrainConfig opt;
  opt.lr = 1e-3;
  opt.warmup_steps = 0;
  auto models = toy_models(tok->vocab_size(), true);
  auto before = models.policy->parameters()[0].clone();
  auto vbefore = models.value_head->proj->weight.clone();
  PpoTrainer t(cfg, opt, models, RuleReward::parse("count \"banana\" 1\n"), tok);
  auto rec = t.iterate({"say the cat", "a dog", "say banana", "now"});
  EXPECT_LT(rec["logprob_gen_max_diff"].get<double>(), 1e-5);
  EXPECT_LT(rec["ratio_first_dev"].get<double>(), 1e-5);
  EXPECT_EQ(rec["optimizer_steps"].get<int64_t>(), 2);
  EXPECT_FALSE(torch::equal(before, models.policy->parameters()[0]));
  EXPECT_FALSE(torch::equal(vbefore, models.value_head->proj->weight));
  // The reference stays frozen.
  for (auto& p : models.reference->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const char* k : {"reward", "kl", "entropy", "clip_frac", "approx_kl", "value_loss", "explained_var",
                        "response_len", "unfinished_frac", "tokens_per_s", "time_generate", "time_update"})
    EXPECT_TRUE(rec.contains(k)) << k;
}

namespace {
// Two optimiser steps per epoch over 6 rows (steps of 4 + 2 rows, micro-batches of 2), 2 epochs,
// 2 iterations: for comparing two ways of computing the same update.
PpoConfig comparison_config(const std::string& algo) {
  PpoConfig cfg;
  cfg.algo = algo;
  cfg.batch_prompts = 3;
  cfg.samples_per_prompt = 2;
  cfg.max_new_tokens = 8;
  cfg.mini_batch = 4;
  cfg.micro_batch = 2;
  cfg.ppo_epochs = 2;
  cfg.iterations = 2;
  return cfg;
}
// adam_eps 0.5 and lr 1 make each parameter's change ~ its gradient (see below).
TrainConfig comparison_optimizer(const std::string& dtype) {
  TrainConfig opt;
  opt.lr = 1.0;
  opt.adam_eps = 0.5;
  opt.grad_clip = 0;
  opt.weight_decay = 0;
  opt.warmup_steps = 0;
  opt.dtype = dtype;
  return opt;
}
}  // namespace

// The first micro-batch's forward made in the reference/value phase (with its graph kept for the
// update) must give the update the plain order gives: same losses, same parameters after it.
// adam_eps 0.5 and lr 1 make each parameter's change ~ its gradient (Adam's first step is otherwise
// ~ lr * sign(g), which flips on rounding for gradients near zero).
TEST(Ppo, ReusedFirstForwardGivesThePlainUpdate) {
  auto tok = std::make_shared<test::WordTokenizer>(test::toy_words());
  for (const std::string dtype : {"fp32", "bf16"}) {
    for (const char* algo : {"ppo", "rloo"}) {
      std::map<bool, std::pair<nlohmann::json, std::vector<torch::Tensor>>> out;
      for (bool reuse : {true, false}) {
        PpoConfig cfg = comparison_config(algo);
        cfg.reuse_first_forward = reuse;
        TrainConfig opt = comparison_optimizer(dtype);
        auto models = toy_models(tok->vocab_size(), std::string(algo) == "ppo");
        PpoTrainer t(cfg, opt, models, RuleReward::parse("count \"banana\" 1\n"), tok);
        auto rec = t.iterate({"say the cat", "a dog", "say banana"});
        std::vector<torch::Tensor> params;
        for (auto& p : models.policy->parameters()) params.push_back(p.detach().clone());
        if (models.value_trunk)
          for (auto& p : models.value_trunk->parameters()) params.push_back(p.detach().clone());
        out[reuse] = {rec, params};
      }
      SCOPED_TRACE(dtype + " " + algo);
      const auto& [ra, pa] = out[true];
      const auto& [rb, pb] = out[false];
      const double tol = dtype == "bf16" ? 2e-3 : 2e-5;
      for (const char* k : {"policy_loss", "approx_kl", "kl", "entropy"})
        EXPECT_NEAR(ra[k].get<double>(), rb[k].get<double>(), tol) << k;
      if (std::string(algo) == "ppo")
        for (const char* k : {"value_loss", "value_mean", "explained_var"})
          EXPECT_NEAR(ra[k].get<double>(), rb[k].get<double>(), tol) << k;
      EXPECT_LT(ra["ratio_first_dev"].get<double>(), 1e-5);
      ASSERT_EQ(pa.size(), pb.size());
      double worst = 0;
      for (size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
      EXPECT_LT(worst, dtype == "bf16" ? 1e-2 : 1e-5);
    }
  }
}

// The first optimiser step replayed from the generator's recording must give the update the plain
// forward gives (two recorded micro-batches of 2 rows; the second step of 2 rows is plain).
TEST(Ppo, ReplayedFirstStepGivesThePlainUpdate) {
  auto tok = std::make_shared<test::WordTokenizer>(test::toy_words());
  for (const std::string dtype : {"fp32", "bf16"}) {
    for (const char* algo : {"ppo", "grpo"}) {
      std::map<bool, std::pair<nlohmann::json, std::vector<torch::Tensor>>> out;
      for (bool replay : {true, false}) {
        PpoConfig cfg = comparison_config(algo);
        cfg.replay_generation = replay;
        // Under bf16 the replayed rows' old log-probs are the decode engine's, the reference's the
        // training forward's: their KL differs from the plain path's (exactly 0 here, as policy and
        // reference start equal) by bf16 rounding, which this toy's tiny rewards would amplify.
        if (dtype == "bf16") cfg.kl_coef = 0;
        TrainConfig opt = comparison_optimizer(dtype);
        auto models = toy_models(tok->vocab_size(), std::string(algo) == "ppo");
        PpoTrainer t(cfg, opt, models, RuleReward::parse("count \"banana\" 1\n"), tok);
        EXPECT_EQ(t.replays(), replay);
        auto rec = t.iterate({"say the cat", "a dog", "say banana"});
        EXPECT_EQ(rec["replayed_rows"].get<int64_t>(), replay ? 4 : 0);
        std::vector<torch::Tensor> params;
        for (auto& p : models.policy->parameters()) params.push_back(p.detach().clone());
        out[replay] = {rec, params};
      }
      SCOPED_TRACE(dtype + " " + algo);
      const auto& [ra, pa] = out[true];
      const auto& [rb, pb] = out[false];
      const double tol = dtype == "bf16" ? 2e-2 : 2e-5;
      for (const char* k : {"policy_loss", "approx_kl", "kl", "entropy", "clip_frac"})
        EXPECT_NEAR(ra[k].get<double>(), rb[k].get<double>(), tol) << k;
      // The check still compares generation with a plain forward (on one row).
      EXPECT_LT(ra["logprob_gen_max_diff"].get<double>(), dtype == "bf16" ? 5e-2 : 1e-5);
      EXPECT_LT(ra["ratio_first_dev"].get<double>(), 1e-5);
      ASSERT_EQ(pa.size(), pb.size());
      double worst = 0, size = 0;
      for (size_t i = 0; i < pa.size(); ++i) {
        worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
        size = std::max(size, pa[i].abs().max().item<double>());
      }
      EXPECT_LT(worst, dtype == "bf16" ? 5e-2 * size : 1e-5);
    }
  }
  // Layouts the decode engine does not record (Llama) recompute.
  {
    ModelConfig lc = test::toy_model(tok->vocab_size(), 1)->config();
    lc.arch = "llama";
    lc.bias = false;
    lc.tie_embeddings = false;
    PolicyModels lm;
    lm.policy = Transformer(lc);
    lm.reference = clone_transformer(lm.policy);
    lm.value_trunk = clone_transformer(lm.policy);
    lm.value_head = ScalarHead(lc.d_model);
    PpoTrainer t(comparison_config("ppo"), comparison_optimizer("fp32"), lm, RuleReward::parse("count \"banana\" 1\n"), tok);
    EXPECT_FALSE(t.replays());
    auto rec = t.iterate({"say the cat", "a dog", "say banana"});
    EXPECT_EQ(rec["replayed_rows"].get<int64_t>(), 0);
  }
  // A recording over --replay-max-mb is not made: those rows are recomputed.
  PpoConfig cfg = comparison_config("ppo");
  cfg.replay_max_mb = 0;
  auto models = toy_models(tok->vocab_size(), true);
  PpoTrainer t(cfg, comparison_optimizer("fp32"), models, RuleReward::parse("count \"banana\" 1\n"), tok);
  auto rec = t.iterate({"say the cat", "a dog", "say banana"});
  EXPECT_EQ(rec["replayed_rows"].get<int64_t>(), 0);
  EXPECT_LT(rec["logprob_gen_max_diff"].get<double>(), 1e-5);
}

TEST(Ppo, ConfigValidationNamesTheFlag) {
  PpoConfig c;
  c.algo = "rloo";
  c.samples_per_prompt = 1;
  try {
    c.validate();
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--samples-per-prompt"), std::string::npos);
  }
  c = PpoConfig{};
  c.micro_batch = 3;
  c.mini_batch = 8;
  EXPECT_THROW(c.validate(), rlhf::Error);
  c = PpoConfig{};
  c.algo = "dpo";
  EXPECT_THROW(c.validate(), rlhf::Error);
}

namespace {
// Runs `iters` iterations of the toy task and returns (first 3 iterations' mean reward, last 3's,
// last 3's mean KL).
struct ToyResult {
  double reward_start = 0, reward_end = 0, kl_end = 0, beta_end = 0;
};
ToyResult run_toy(const std::string& algo, int iters, double kl_target = 0) {
  auto tok = std::make_shared<test::WordTokenizer>(test::toy_words());
  PpoConfig cfg;
  cfg.algo = algo;
  cfg.batch_prompts = algo == "ppo" ? 16 : 4;
  cfg.samples_per_prompt = algo == "ppo" ? 1 : 4;
  cfg.max_new_tokens = 8;
  cfg.mini_batch = 8;
  cfg.micro_batch = 8;
  cfg.ppo_epochs = 2;
  cfg.iterations = iters;
  cfg.kl_coef = 0.1;
  cfg.kl_target = kl_target;
  cfg.kl_horizon = 16;  // one batch per horizon: beta may move 20% per iteration (a short run)
  cfg.vf_coef = 0.5;
  cfg.seed = 3;
  TrainConfig opt;
  opt.lr = 3e-3;
  opt.warmup_steps = 0;
  opt.min_lr_ratio = 1.0;
  opt.weight_decay = 0.0;
  PpoTrainer t(cfg, opt, toy_models(tok->vocab_size(), algo == "ppo"), RuleReward::parse("count \"banana\" 1\n"),
               tok);
  auto prompts = toy_prompts();
  ToyResult r;
  for (int i = 0; i < iters; ++i) {
    std::vector<std::string> batch;
    for (int j = 0; j < cfg.batch_prompts; ++j) batch.push_back(prompts[(i * cfg.batch_prompts + j) % prompts.size()]);
    auto rec = t.iterate(batch);
    if (i < 3) r.reward_start += rec["reward"].get<double>() / 3;
    if (i >= iters - 3) r.reward_end += rec["reward"].get<double>() / 3, r.kl_end += rec["kl"].get<double>() / 3;
    r.beta_end = rec["beta_next"].get<double>();
  }
  return r;
}
}  // namespace

TEST(Ppo, ToyRewardRisesWithBoundedKl) {
  auto r = run_toy("ppo", 25);
  std::cout << "ppo toy: reward " << r.reward_start << " -> " << r.reward_end << ", KL " << r.kl_end << "\n";
  EXPECT_GT(r.reward_end, r.reward_start + 1.0);
  EXPECT_LT(r.kl_end, 15.0);
}

TEST(Ppo, ToyRlooAndGrpoRaiseTheRewardToo) {
  for (std::string algo : {"rloo", "grpo"}) {
    auto r = run_toy(algo, 25);
    std::cout << algo << " toy: reward " << r.reward_start << " -> " << r.reward_end << ", KL " << r.kl_end << "\n";
    EXPECT_GT(r.reward_end, r.reward_start + 1.0) << algo;
    EXPECT_LT(r.kl_end, 15.0) << algo;
  }
}

TEST(Ppo, ToyAdaptiveKlControllerRaisesBetaAndLowersKl) {
  auto fixed = run_toy("ppo", 25);
  auto r = run_toy("ppo", 25, /*kl_target=*/2.0);
  std::cout << "ppo toy, KL target 2: reward " << r.reward_start << " -> " << r.reward_end << ", KL " << r.kl_end
            << ", beta 0.1 -> " << r.beta_end << " (fixed beta: KL " << fixed.kl_end << ")\n";
  // The controller raises beta while KL is above the target (at most 20% per horizon, so it
  // lags a fast-moving policy) and ends with a clearly smaller KL than the fixed beta.
  EXPECT_GT(r.reward_end, r.reward_start + 0.5);
  EXPECT_GT(r.beta_end, 0.1 * 3);
  EXPECT_LT(r.kl_end, fixed.kl_end - 1.0);
  EXPECT_LT(r.kl_end, 4 * 2.0);
}

TEST(Ppo, PtxTermLowersTheLanguageModellingLossOfItsData) {
  // PPO-ptx with a zero reward: the only learning signal is the LM loss on the ptx data, so its
  // loss must fall over a few iterations (and be logged).
  auto tok = std::make_shared<test::WordTokenizer>(test::toy_words());
  PpoConfig cfg;
  cfg.batch_prompts = 4;
  cfg.max_new_tokens = 4;
  cfg.mini_batch = 4;
  cfg.micro_batch = 4;
  cfg.ppo_epochs = 2;
  cfg.iterations = 8;
  cfg.ptx_coef = 1.0;
  cfg.ptx_batch = 2;
  TrainConfig opt;
  opt.lr = 3e-3;
  opt.warmup_steps = 0;
  opt.weight_decay = 0;
  PpoTrainer t(cfg, opt, toy_models(tok->vocab_size(), true),
               std::make_shared<CallbackReward>("zero", [](const RewardQuery&) { return 0.0; }), tok);
  data::TokenizedExample ex;
  ex.ids = {3, 4, 5, 6, 7, 8, 0};  // "the cat dog sat ran on <eos>"
  ex.train.assign(ex.ids.size(), 1);
  t.set_ptx_data({ex, ex});
  double first = 0, last = 0;
  for (int i = 0; i < 8; ++i) {
    auto rec = t.iterate({"say the cat", "a dog", "now", "please say"});
    ASSERT_TRUE(rec.contains("ptx_loss"));
    (i == 0 ? first : last) = rec["ptx_loss"].get<double>();
  }
  EXPECT_GT(first, 1.5);  // a random model over 16 words: about log(16) = 2.8
  EXPECT_LT(last, first - 0.5);
}
