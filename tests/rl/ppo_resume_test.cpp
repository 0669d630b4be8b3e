// Exact resume: a run interrupted after its iteration-2 checkpoint and resumed ends with the same
// policy, value model, KL coefficient and metrics as an uninterrupted run.
#include <gtest/gtest.h>

#include <filesystem>

#include "rl/toy.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/rl/ppo_run.h"
#include "rlhf/rl/rules.h"

using namespace rlhf;
using namespace rlhf::rl;

namespace {

struct Crash : std::runtime_error {
  Crash() : std::runtime_error("simulated crash") {}
};

std::unique_ptr<PpoTrainer> make_trainer(std::shared_ptr<RewardFn> reward) {
  auto tok = std::make_shared<test::WordTokenizer>(test::toy_words());
  PpoConfig cfg;
  cfg.batch_prompts = 4;
  cfg.max_new_tokens = 6;
  cfg.mini_batch = 4;
  cfg.micro_batch = 2;
  cfg.ppo_epochs = 2;
  cfg.iterations = 4;
  cfg.kl_target = 1.0;  // adaptive: beta changes every iteration, so it must be restored
  cfg.sample_every = 1;
  cfg.seed = 11;
  TrainConfig opt;
  opt.lr = 2e-3;
  opt.warmup_steps = 0;
  PolicyModels m;
  m.policy = test::toy_model(tok->vocab_size(), 4);
  m.reference = clone_transformer(m.policy);
  m.value_trunk = clone_transformer(m.policy);
  m.value_head = ScalarHead(m.policy->config().d_model);
  return std::make_unique<PpoTrainer>(cfg, opt, m, reward, tok);
}

std::vector<std::string> prompts() { return {"say the cat", "a dog", "say banana", "now", "the mat", "red dog"}; }

std::string tmp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("rlhf_ppo_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d.string();
}

}  // namespace

TEST(PpoResume, InterruptedRunResumesExactly) {
  auto rules = RuleReward::parse("count \"banana\" 1\ncount \"cat\" 0.5\n");
  const std::string a = tmp_dir("straight"), b = tmp_dir("resumed");
  PpoRunOptions o;
  o.save_every = 2;
  o.keep_checkpoints = 2;
  o.progress_tty = 0;

  auto ta = make_trainer(rules);
  PromptSource pa(prompts(), 5);
  o.run_dir = a;
  auto ra = run_ppo(*ta, pa, o);
  ASSERT_EQ(ra.iterations, 4);

  // Same run, but the reward throws during iteration 3 (after the iteration-2 checkpoint).
  int calls = 0;
  auto crashing = std::make_shared<CallbackReward>("crash", [&](const RewardQuery& q) {
    if (++calls > 2 * 4) throw Crash();
    return rules->score_one(q);
  });
  {
    auto tb = make_trainer(crashing);
    PromptSource pb(prompts(), 5);
    o.run_dir = b;
    EXPECT_THROW(run_ppo(*tb, pb, o), Crash);
  }
  ASSERT_TRUE(std::filesystem::exists(b + "/checkpoint-2"));
  calls = -1000000;  // no more crashes
  auto tc = make_trainer(crashing);
  PromptSource pc(prompts(), 5);
  o.resume = true;
  auto rc = run_ppo(*tc, pc, o);
  EXPECT_TRUE(rc.resumed);
  EXPECT_EQ(rc.iterations, 4);

  auto pa_params = ta->models().policy->parameters(), pc_params = tc->models().policy->parameters();
  for (size_t i = 0; i < pa_params.size(); ++i) EXPECT_TRUE(torch::equal(pa_params[i], pc_params[i])) << "policy " << i;
  EXPECT_TRUE(torch::equal(ta->models().value_head->proj->weight, tc->models().value_head->proj->weight));
  EXPECT_DOUBLE_EQ(ta->kl_controller().beta(), tc->kl_controller().beta());
  EXPECT_EQ(pa.position(), pc.position());
  // metrics.jsonl reads as one run: iterations 1..4, the same rewards.
  auto ma = io::read_jsonl(a + "/metrics.jsonl"), mc = io::read_jsonl(b + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 4u);
  ASSERT_EQ(mc.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(mc[i]["step"].get<int64_t>(), static_cast<int64_t>(i + 1));
    EXPECT_DOUBLE_EQ(ma[i]["reward"].get<double>(), mc[i]["reward"].get<double>()) << i;
    EXPECT_DOUBLE_EQ(ma[i]["kl"].get<double>(), mc[i]["kl"].get<double>()) << i;
  }
  EXPECT_TRUE(std::filesystem::exists(a + "/final/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(a + "/final/value/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(a + "/samples.jsonl"));
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}
