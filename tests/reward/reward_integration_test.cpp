// End to end through the real binary: a tiny random model + BPE vocabulary saved as a checkpoint,
// `rlhf rm train` on a few dozen pairs (loss falls, training accuracy rises), `rm eval --json`,
// `rm score` (single and ensemble), normalisation stored, and bad input failing with FILE:LINE.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/reward/reward_model.h"
#include "rlhf/tokenizer/bpe_train.h"

using namespace rlhf;

namespace {
// Per process: ctest runs this file's tests in parallel processes, which share the command log
// and the base checkpoint names.
std::string tmp(const std::string& name) {
  return ::testing::TempDir() + "/rm_integ_" + std::to_string(getpid()) + "_" + name;
}

int run(const std::string& args, std::string* out = nullptr) {
  std::string log = tmp("cmd.log");
  int rc = std::system((std::string(RLHF_BINARY) + " " + args + " > " + log + " 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  if (out) *out = ss.str();
  return WEXITSTATUS(rc);
}

std::string pair_line(int i, bool good_first) {
  io::json j;
  j["prompt"] = "\n\nHuman: question " + std::to_string(i) + "?\n\nAssistant:";
  std::string good = " yes, gladly, my friend " + std::to_string(i % 5) + ".", bad = " no. go away " + std::to_string(i % 3) + ".";
  j["chosen"] = good_first ? good : bad;
  j["rejected"] = good_first ? bad : good;
  j["gold"] = good_first ? std::vector<double>{1.0, 0.0} : std::vector<double>{0.0, 1.0};
  return j.dump() + "\n";
}

// A 1-layer GPT-2-layout model over a 300-token BPE vocabulary, saved once per test binary.
const std::string& tiny_checkpoint() {
  static std::string dir = [] {
    std::string d = tmp("base");
    std::vector<std::string> texts;
    for (int i = 0; i < 50; ++i) texts.push_back(pair_line(i, true));
    auto tok = train_bpe(texts, 300);
    ModelConfig c;
    c.arch = "gpt2";
    c.vocab_size = tok->vocab_size();
    c.n_layer = 1;
    c.n_head = 2;
    c.d_model = 32;
    c.max_seq = 64;
    c.eos_id = tok->eos_id();
    torch::manual_seed(0);
    Transformer m(c);
    save_checkpoint(d, m, tok.get());
    return d;
  }();
  return dir;
}

std::string write(const std::string& name, const std::string& text) {
  std::string p = tmp(name);
  std::ofstream(p) << text;
  return p;
}
}  // namespace

TEST(RmIntegration, TrainEvalScore) {
  std::string data;
  for (int i = 0; i < 32; ++i) data += pair_line(i, true);
  std::string train = write("train.jsonl", data);
  std::string out = tmp("rm1");
  std::system(("rm -rf " + out).c_str());
  std::string log;
  int rc = run("rm train --model " + tiny_checkpoint() + " --data " + train + " --eval-data " + train +
                   " --out " + out + " --steps 40 --batch-size 8 --lr 3e-3 --warmup-steps 0 --log-every 100",
               &log);
  ASSERT_EQ(rc, 0) << log;
  auto summary = io::read_json(out + "/train_summary.json");
  double first = summary["first_loss"][0], last = summary["last_loss"][0];
  EXPECT_LT(last, first * 0.5) << log;
  EXPECT_GE(summary["train_accuracy"][0].get<double>(), 0.95) << log;
  // Normalisation statistics were measured on the training responses (64 of them).
  auto rc_json = io::read_json(out + "/reward_config.json");
  EXPECT_EQ(rc_json["normalization"]["n"].get<int>(), 64);
  EXPECT_GT(rc_json["normalization"]["std"].get<double>(), 0.0);

  rc = run("rm eval --model " + out + " --data " + train + " --json", &log);
  ASSERT_EQ(rc, 0) << log;
  auto j = io::json::parse(log.substr(log.find('{')));
  for (const char* k : {"accuracy", "accuracy_ci95", "ece", "length_longer_accuracy", "length_shorter_accuracy", "n",
                        "pearson", "spearman"})
    EXPECT_TRUE(j.contains(k)) << k << " in " << log;
  EXPECT_EQ(j["n"].get<int>(), 32);
  EXPECT_GE(j["accuracy"].get<double>(), 0.95);
  // The good answer is the longer one here: the length baseline is perfect too, and shown.
  EXPECT_EQ(j["length_longer_accuracy"].get<double>(), 1.0);

  std::string samples = write("samples.jsonl",
                              "{\"prompt\": \"\\n\\nHuman: question 3?\\n\\nAssistant:\", \"response\": \" yes, gladly, my friend 3.\", \"id\": 7}\n"
                              "{\"prompt\": \"\\n\\nHuman: question 3?\\n\\nAssistant:\", \"response\": \" no. go away 0.\"}\n");
  std::string scored = tmp("scored.jsonl");
  rc = run("rm score --model " + out + " --data " + samples + " --out " + scored + " --normalized", &log);
  ASSERT_EQ(rc, 0) << log;
  auto recs = io::read_jsonl(scored);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["id"].get<int>(), 7);  // input fields kept
  EXPECT_GT(recs[0]["reward"].get<double>(), recs[1]["reward"].get<double>());

  // The C++ API gives the same numbers.
  auto rm = reward::RewardModel::load(out);
  auto str = [](const io::json& j) { return j.get<std::string>(); };
  auto s = rm.score({str(recs[0]["prompt"]), str(recs[1]["prompt"])}, {str(recs[0]["response"]), str(recs[1]["response"])});
  EXPECT_NEAR(s.normalized[0], recs[0]["reward"].get<double>(), 1e-5);
  EXPECT_NEAR(s.normalized[1], recs[1]["reward"].get<double>(), 1e-5);
}

TEST(RmIntegration, EnsembleAndBadInput) {
  std::string data;
  for (int i = 0; i < 16; ++i) data += pair_line(i, i % 4 != 0);
  std::string train = write("train_e.jsonl", data);
  std::string out = tmp("rm_ens");
  std::system(("rm -rf " + out).c_str());
  std::string log;
  int rc = run("rm train --model " + tiny_checkpoint() + " --data " + train + " --out " + out +
                   " --steps 5 --batch-size 4 --ensemble 2 --log-every 100",
               &log);
  ASSERT_EQ(rc, 0) << log;
  auto rm = reward::RewardModel::load(out);
  EXPECT_EQ(rm.size(), 2);
  auto s = rm.score({"\n\nHuman: hi\n\nAssistant:"}, {" yes"});
  EXPECT_GT(s.stdev[0], 0.0);  // members with different seeds disagree
  EXPECT_NEAR(s.mean[0], (s.members[0][0] + s.members[1][0]) / 2, 1e-9);

  // A ranking that is not a permutation: error naming file and line, exit 1.
  std::string bad = write("bad.jsonl", pair_line(0, true) +
                                           "{\"prompt\": \"P\", \"responses\": [\" a\", \" b\"], \"ranking\": [1, 1]}\n");
  rc = run("rm train --model " + tiny_checkpoint() + " --data " + bad + " --out " + tmp("rm_bad"), &log);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(log.find(bad + ":2: ranking is not a permutation"), std::string::npos) << log;
  // chosen == rejected is a counted skip, reported.
  std::string dup = write("dup.jsonl", data + "{\"prompt\": \"P\", \"chosen\": \" a\", \"rejected\": \" a\"}\n");
  rc = run("rm eval --model " + out + " --data " + dup, &log);
  EXPECT_EQ(rc, 0) << log;
  EXPECT_NE(log.find("skipped 1 record: 1 chosen == rejected (first at " + dup + ":17)"), std::string::npos) << log;
}
