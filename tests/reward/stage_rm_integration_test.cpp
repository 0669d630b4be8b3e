// The pipeline's reward-model stage on a tiny random checkpoint with the model-free world sampler:
// candidates labelled by simulated annotators, RM trained, held-out gold evaluation, summary keys.
#include <gtest/gtest.h>

#include <cstdlib>

#include "rlhf/data/preference.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/pipeline/stage_rm.h"
#include "rlhf/tokenizer/bpe_train.h"
#include "rlhf/world/world.h"

using namespace rlhf;

TEST(RmStage, RunsOnTheWorldAndReportsGoldFigures) {
  std::string base = ::testing::TempDir() + "/rm_stage_base", out = ::testing::TempDir() + "/rm_stage";
  std::system(("rm -rf " + base + " " + out).c_str());
  std::vector<std::string> texts;
  for (const auto& p : world::sample_prompts(world::Split::Train, 50, 1)) texts.push_back(p.prompt);
  auto tok = train_bpe(texts, 400);
  ModelConfig c;
  c.vocab_size = tok->vocab_size();
  c.n_layer = 1;
  c.n_head = 2;
  c.d_model = 32;
  c.max_seq = 96;
  c.eos_id = tok->eos_id();
  torch::manual_seed(0);
  save_checkpoint(base, Transformer(c), tok.get());

  pipeline::RmStageConfig cfg;
  cfg.sft_dir = base;
  cfg.out_dir = out;
  cfg.train_prompts = 12;
  cfg.eval_prompts = 6;
  cfg.k = 3;
  cfg.rm.train.steps = 4;
  cfg.rm.train.batch_size = 4;
  cfg.rm.train.warmup_steps = 0;
  cfg.rm.progress_tty = 0;
  auto s = pipeline::run_rm_stage(cfg, pipeline::world_style_sampler());
  for (const char* k : {"accuracy_vs_gold", "accuracy_ci95", "spearman_gold", "length_longer_accuracy", "n"})
    EXPECT_TRUE(s.contains(k)) << k << " in " << s.dump();
  EXPECT_GT(s["n"].get<int>(), 0);
  // Held-out pairs are all gold-ordered, so the gold-gap buckets hold every one of them.
  ASSERT_TRUE(s.contains("accuracy_by_gold_gap")) << s.dump();
  int64_t bucketed = 0;
  for (const auto& b : s["accuracy_by_gold_gap"]) bucketed += b["n"].get<int64_t>();
  EXPECT_EQ(bucketed, s["n"].get<int64_t>());
  EXPECT_GT(s["annotator_gold_agreement"].get<double>(), 0.5);  // annotators follow the gold judge, noisily
  auto train = data::read_preferences(out + "/train_prefs.jsonl");
  EXPECT_EQ(train.skipped.total(), 0);
  ASSERT_FALSE(train.groups.empty());
  EXPECT_EQ(train.groups[0].format, "ranking");
  EXPECT_FALSE(train.groups[0].annotator.empty());
  auto held = data::read_preferences(out + "/heldout_gold.jsonl");
  ASSERT_FALSE(held.groups.empty());
  EXPECT_EQ(held.groups[0].gold.size(), held.groups[0].responses.size());
  EXPECT_NO_THROW(io::read_json(out + "/model/reward_config.json"));
}
