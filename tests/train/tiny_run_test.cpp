// End to end in seconds: pretrain a tiny Transformer from scratch on a small world corpus (its own
// BPE), then SFT it on world demonstrations. The loss falls in both, every trainable parameter
// changes in both, and SFT lowers the response-only validation loss.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/train/pretrain.h"
#include "rlhf/train/sft.h"
#include "rlhf/world/world.h"
#include "train/test_util.h"

using namespace rlhf;

namespace {
std::map<std::string, torch::Tensor> params_of(const Transformer& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : m->named_parameters(true)) out[p.key()] = p.value().detach().clone();
  return out;
}
void expect_all_changed(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                        const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_FALSE(torch::equal(t, b.at(name))) << what << ": parameter " << name << " did not change";
  }
}
}  // namespace

TEST(TinyRun, PretrainThenSftLossFallsAndEveryParameterChanges) {
  auto dir = rlhf::testing::temp_dir("tiny_run");
  world::CorpusConfig cc;
  cc.tokens = 30000;
  std::ostringstream corpus;
  world::write_corpus(corpus, cc);
  io::write_file_atomic(dir + "/corpus.txt", corpus.str());
  std::string demos;
  world::DemoConfig dc;
  dc.n = 120;
  for (const auto& d : world::make_demos(dc))
    demos += nlohmann::json{{"prompt", d.prompt}, {"response", d.response}}.dump() + "\n";
  io::write_file_atomic(dir + "/demos.jsonl", demos);

  PretrainConfig pc;
  pc.data = dir + "/corpus.txt";
  pc.out = dir + "/pretrain";
  pc.vocab_size = 400;
  pc.model.n_layer = 2;
  pc.model.n_head = 2;
  pc.model.d_model = 32;
  pc.model.max_seq = 64;
  pc.val_fraction = 0.05;
  pc.train.steps = 40;
  pc.train.batch_size = 8;
  pc.train.lr = 5e-3;
  pc.train.warmup_steps = 4;
  pc.train.seed = 3;
  pc.progress_tty = 0;
  auto pr = pretrain(pc);
  EXPECT_LT(pr["final_loss"].get<double>(), pr["first_loss"].get<double>() - 1.0) << pr.dump();
  EXPECT_TRUE(std::isfinite(pr["eval_loss"].get<double>()));

  // The initial weights: the same seed builds the same model.
  ModelConfig mc = load_model_config(pc.out + "/final");
  torch::manual_seed(pc.train.seed);
  Transformer init(mc);
  Checkpoint base = load_checkpoint(pc.out + "/final");
  expect_all_changed(params_of(init), params_of(base.model), "pretrain");
  auto lines = io::read_jsonl(pc.out + "/metrics.jsonl");
  EXPECT_EQ(lines.size(), 40u);

  SftConfig sc;
  sc.model = pc.out + "/final";
  sc.data = {dir + "/demos.jsonl"};
  sc.out = dir + "/sft";
  sc.val_fraction = 0.1;
  sc.train.steps = 25;
  sc.train.batch_size = 8;
  sc.train.lr = 2e-3;
  sc.train.warmup_steps = 2;
  sc.train.weight_decay = 0.0;
  sc.progress_tty = 0;
  auto sr = sft(sc);
  EXPECT_LT(sr["final_loss"].get<double>(), sr["first_loss"].get<double>()) << sr.dump();
  EXPECT_LT(sr["eval_loss"].get<double>(), sr["eval_loss_before"].get<double>()) << sr.dump();
  EXPECT_EQ(sr["skipped"].get<int64_t>(), 0);
  Checkpoint tuned = load_checkpoint(sc.out + "/final");
  expect_all_changed(params_of(base.model), params_of(tuned.model), "sft");
  // The SFT checkpoint carries the chat template, and the run folder its config-free pieces.
  auto tc = io::read_json(sc.out + "/final/tokenizer_config.json");
  EXPECT_TRUE(tc.contains("chat_template"));
  EXPECT_TRUE(tc.contains("rlhf_chat_template"));
  EXPECT_TRUE(io::file_exists(sc.out + "/final/trainer_state.pt"));
}
