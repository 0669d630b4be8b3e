// `rlhf ppo` end to end on a tiny random GPT-2-layout model with the GPT-2 tokenizer: world
// prompts, gold-judge + rule rewards, PPO and RLOO, metrics/samples/eval files, finished-run resume.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/rl/ppo_eval.h"
#include "rlhf/rl/ppo_setup.h"
#include "rlhf/rl/prompt_source.h"

using namespace rlhf;

namespace {

std::string tmp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("rlhf_ppo_cli_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

int run_cmd(const std::string& args, const std::string& log) {
  std::string cmd = std::string(RLHF_BINARY) + " " + args + " > " + log + " 2>&1";
  return std::system(cmd.c_str());
}

// A tiny model over GPT-2's vocabulary, saved as a checkpoint folder with the tokenizer.
std::string make_policy(const std::string& root, const std::string& name = "sft", uint64_t seed = 0) {
  auto tok = load_tokenizer(std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2");
  torch::manual_seed(seed);
  ModelConfig cfg;
  cfg.vocab_size = tok->vocab_size();
  cfg.n_layer = 1;
  cfg.n_head = 2;
  cfg.d_model = 32;
  cfg.max_seq = 128;
  cfg.eos_id = tok->eos_id();
  Transformer m(cfg);
  std::string dir = root + "/" + name;
  save_checkpoint(dir, m, tok.get());
  return dir;
}

}  // namespace

TEST(PpoCli, RunsPpoAndRlooOnWorldPromptsWithGoldAndRuleRewards) {
  if (!io::file_exists(std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2/vocab.bpe"))
    GTEST_SKIP() << "GPT-2 tokenizer files not found under " << RLHF_SHARED_DATA;
  const std::string root = tmp_dir("run");
  io::make_dirs(root);
  const std::string sft = make_policy(root);
  const std::string rules = root + "/r.rules";
  std::ofstream(rules) << "max_words 20 -0.1\nunfinished -0.5\n";
  const std::string common = " --policy " + sft + " --prompts world:train --gold-reward --rules " + rules +
                             " --iterations 2 --max-new-tokens 8 --eval-prompts 8 --eval-samples 2 --threads 1 --lr 1e-4";

  std::string out = root + "/ppo";
  ASSERT_EQ(run_cmd("ppo" + common + " --batch-prompts 4 --mini-batch 4 --micro-batch 2 --out " + out, root + "/ppo.log"), 0)
      << io::read_file(root + "/ppo.log");
  auto metrics = io::read_jsonl(out + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 2u);
  for (const char* k : {"reward", "reward/gold", "reward/rules", "kl", "entropy", "value_loss", "explained_var",
                        "time_generate", "time_score", "time_forward", "time_update", "eval_gold_delta_vs_sft"})
    EXPECT_TRUE(metrics[1].contains(k)) << k;
  EXPECT_LT(metrics[0]["logprob_gen_max_diff"].get<double>(), 1e-3);
  EXPECT_TRUE(io::file_exists(out + "/final/model.safetensors"));
  EXPECT_TRUE(io::file_exists(out + "/final/value/model.safetensors"));
  EXPECT_TRUE(io::file_exists(out + "/samples.jsonl"));
  auto ev = io::read_json(out + "/eval.json");
  EXPECT_EQ(ev["n"].get<int64_t>(), 8);
  EXPECT_TRUE(ev["gold_delta_ci95"].is_array());
  // Headline figures sample at the training temperature (2 responses per prompt); the greedy block
  // repeats the comparison with greedy decoding.
  EXPECT_EQ(ev["temperature"].get<double>(), 1.0);
  EXPECT_EQ(ev["samples_per_prompt"].get<int64_t>(), 2);
  EXPECT_TRUE(ev["kl"].is_number());
  ASSERT_TRUE(ev["greedy"].is_object());
  EXPECT_EQ(ev["greedy"]["temperature"].get<double>(), 0.0);
  EXPECT_EQ(ev["greedy"]["n"].get<int64_t>(), 8);
  EXPECT_TRUE(ev["greedy"]["gold_delta_ci95"].is_array());
  // evals.jsonl: one line per evaluation (here only the final one).
  auto evals = io::read_jsonl(out + "/evals.jsonl");
  ASSERT_EQ(evals.size(), 1u);
  EXPECT_EQ(evals[0]["iteration"].get<int64_t>(), 2);
  EXPECT_EQ(evals[0]["gold_mean"].get<double>(), ev["gold_mean"].get<double>());
  // The final folder is an ordinary checkpoint.
  EXPECT_NO_THROW(load_checkpoint(out + "/final"));
  // A finished run: --resume does nothing; without --resume the folder is refused.
  EXPECT_EQ(run_cmd("ppo" + common + " --batch-prompts 4 --mini-batch 4 --micro-batch 2 --resume --out " + out,
                    root + "/again.log"),
            0);
  EXPECT_NE(io::read_file(root + "/again.log").find("already finished"), std::string::npos);
  EXPECT_NE(run_cmd("ppo" + common + " --batch-prompts 4 --mini-batch 4 --micro-batch 2 --out " + out, root + "/no.log"), 0);

  std::string rloo = root + "/rloo";
  ASSERT_EQ(run_cmd("ppo" + common + " --algo rloo --batch-prompts 2 --mini-batch 8 --micro-batch 4 --out " + rloo,
                    root + "/rloo.log"),
            0)
      << io::read_file(root + "/rloo.log");
  auto m2 = io::read_jsonl(rloo + "/metrics.jsonl");
  ASSERT_EQ(m2.size(), 2u);
  EXPECT_EQ(m2[0]["rows"].get<int64_t>(), 8);  // 2 prompts x 4 samples
  EXPECT_FALSE(m2[0].contains("value_loss"));
  EXPECT_FALSE(io::file_exists(rloo + "/final/value/model.safetensors"));

  // A bad flag value names the flag.
  EXPECT_NE(run_cmd("ppo" + common + " --algo grpo --samples-per-prompt 1 --out " + root + "/bad", root + "/bad.log"), 0);
  EXPECT_NE(io::read_file(root + "/bad.log").find("--samples-per-prompt"), std::string::npos);
  std::filesystem::remove_all(root);
}

// The held-out comparison of a policy with itself: every sample pair is identical (same weights,
// same sampler seed), so the gold delta is 0 on every prompt, the win rate 1/2 and the KL 0; with
// k samples per prompt the per-prompt gold is the mean of k judged responses.
TEST(PpoEval, PolicyAgainstItselfGivesZeroDeltaAndHalfWinRate) {
  if (!io::file_exists(std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2/vocab.bpe"))
    GTEST_SKIP() << "GPT-2 tokenizer files not found under " << RLHF_SHARED_DATA;
  const std::string root = tmp_dir("eval");
  io::make_dirs(root);
  rl::PpoConfig cfg;
  cfg.max_new_tokens = 8;
  cfg.eval_samples = 3;
  cfg.batch_prompts = 2;
  cfg.mini_batch = 2;
  cfg.micro_batch = 2;
  rl::PpoSources src;
  src.policy = make_policy(root);
  src.gold_reward = true;
  TrainConfig opt;
  auto setup = rl::build_ppo(cfg, opt, src);
  auto prompts = rl::PromptSource::sample("world:test", 6, 12345);
  auto r = rl::evaluate_vs_reference(*setup.trainer, prompts, nullptr, 99, -1, 3);
  ASSERT_EQ(r.gold_policy.size(), 6u);
  EXPECT_EQ(r.samples, 3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(r.gold_policy[i], r.gold_ref[i]);
    EXPECT_EQ(r.win[i], 0.5);
    EXPECT_NEAR(r.kl[i], 0.0, 1e-4);
  }
  // The first of each prompt's samples is kept for inspection.
  EXPECT_EQ(r.responses_policy[0], r.responses_ref[0]);
  auto s = rl::evaluate_summary(*setup.trainer, prompts, nullptr, 99);
  EXPECT_EQ(s["gold_delta_vs_sft"].get<double>(), 0.0);
  EXPECT_EQ(s["win_rate_vs_sft"].get<double>(), 0.5);
  EXPECT_EQ(s["samples_per_prompt"].get<int64_t>(), 3);
  EXPECT_EQ(s["greedy"]["gold_delta_vs_sft"].get<double>(), 0.0);
  EXPECT_FALSE(s["greedy"].contains("kl"));
  // Greedy decoding is deterministic: two greedy evaluations with different seeds agree.
  auto g1 = rl::evaluate_vs_reference(*setup.trainer, prompts, nullptr, 1, 0.0, 5);
  auto g2 = rl::evaluate_vs_reference(*setup.trainer, prompts, nullptr, 2, 0.0, 5);
  EXPECT_EQ(g1.samples, 1);
  EXPECT_EQ(g1.responses_policy, g2.responses_policy);
  EXPECT_TRUE(g1.kl.empty());
  std::filesystem::remove_all(root);
}

// --reference: the frozen reference is that checkpoint, not a copy of the policy (the first
// iteration's KL is far from 0 only then); a reference over another vocabulary is refused,
// naming the flag.
TEST(PpoCli, ReferenceFlagLoadsAnotherCheckpoint) {
  if (!io::file_exists(std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2/vocab.bpe"))
    GTEST_SKIP() << "GPT-2 tokenizer files not found under " << RLHF_SHARED_DATA;
  const std::string root = tmp_dir("reference");
  io::make_dirs(root);
  const std::string pol = make_policy(root, "pol", 0), other = make_policy(root, "other", 7);
  rl::PpoConfig cfg;
  cfg.algo = "rloo";
  cfg.samples_per_prompt = 2;
  cfg.batch_prompts = 2;
  cfg.max_new_tokens = 6;
  cfg.mini_batch = cfg.micro_batch = 4;
  cfg.ppo_epochs = 1;
  cfg.iterations = 1;
  TrainConfig opt;
  opt.warmup_steps = 0;
  const std::vector<std::string> prompts = {"What is 2 plus 2?", "Name a colour."};
  std::map<std::string, double> kl;
  for (const std::string ref : {std::string(), other}) {
    rl::PpoSources src;
    src.policy = pol;
    src.reference = ref;
    src.gold_reward = true;
    auto setup = rl::build_ppo(cfg, opt, src);
    auto& m = setup.trainer->models();
    auto want = load_checkpoint(ref.empty() ? pol : ref).model;
    EXPECT_TRUE(torch::equal(m.reference->parameters()[0], want->parameters()[0]));
    kl[ref] = std::abs(setup.trainer->iterate(prompts)["kl_k1"].get<double>());
  }
  EXPECT_LT(kl[""], 1e-3);
  EXPECT_GT(kl[other], 0.1);
  // Another vocabulary: refused before anything runs.
  {
    auto tok = load_tokenizer(std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2");
    ModelConfig c;
    c.vocab_size = 300;
    c.n_layer = 1;
    c.n_head = 2;
    c.d_model = 32;
    c.max_seq = 128;
    Transformer small(c);
    save_checkpoint(root + "/small", small, nullptr);
  }
  rl::PpoSources bad;
  bad.policy = pol;
  bad.reference = root + "/small";
  bad.gold_reward = true;
  try {
    rl::build_ppo(cfg, opt, bad);
    ADD_FAILURE() << "a reference over another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--reference"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(root);
}
