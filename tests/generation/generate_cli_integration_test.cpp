// `rlhf generate` end to end: a tiny random GPT-2 with a freshly trained BPE is saved as a
// checkpoint, the binary is run on it, and its greedy output must match the library's own
// generate() + decode on the same checkpoint.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "rlhf/generation/generate.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/tokenizer/bpe_train.h"

namespace rlhf {
namespace {

struct RunResult {
  int status = -1;
  std::string out;
};

RunResult run_cmd(const std::string& cmd) {
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class GenerateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "rlhf_gen_cli_" + std::to_string(::getpid());
    io::make_dirs(dir_);
    std::vector<std::string> texts = {"the cat sat on the mat. the dog sat on the log.",
                                      "a story about a cat and a dog who were friends."};
    auto tok = train_bpe(texts, 300);
    ModelConfig c;
    c.arch = "gpt2";
    c.vocab_size = tok->vocab_size();
    c.n_layer = 2;
    c.n_head = 2;
    c.d_model = 32;
    c.max_seq = 64;
    c.eos_id = tok->eos_id();
    torch::manual_seed(3);
    Transformer m(c);
    {
      torch::NoGradGuard ng;
      for (auto& p : m->parameters())
        if (p.dim() > 1) p.mul_(20);  // spread the logits so greedy is not a near-tie
    }
    ckpt_ = dir_ + "/ckpt";
    save_checkpoint(ckpt_, m, tok.get());
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // The library's greedy completion of `prompt` from the saved checkpoint.
  std::pair<std::string, bool> expected(const std::string& prompt, int64_t n) {
    auto ck = load_checkpoint(ckpt_);
    std::vector<int64_t> ids;
    for (int32_t t : ck.tokenizer->encode(prompt)) ids.push_back(t);
    SamplingConfig sc;
    sc.temperature = 0;
    sc.max_new_tokens = n;
    sc.stop_ids = std::vector<int64_t>{ck.tokenizer->eos_id()};
    GenerateOptions go;
    go.backend = "torch";  // the reference path; the binary uses the fast one
    auto r = generate(ck.model, {ids}, sc, go)[0];
    std::vector<int32_t> out(r.tokens.begin(), r.tokens.end() - (r.finished ? 1 : 0));
    return {ck.tokenizer->decode(out, true), r.finished};
  }

  std::string dir_, ckpt_;
};

TEST_F(GenerateCli, PromptPrintsTheGreedyCompletion) {
  auto r = run_cmd(std::string(RLHF_BINARY) + " generate --model '" + ckpt_ +
                   "' --prompt 'the cat' --temperature 0 --max-new-tokens 12 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, expected("the cat", 12).first + "\n");
}

TEST_F(GenerateCli, PromptsFileWritesJsonl) {
  const std::string in = dir_ + "/prompts.jsonl", out = dir_ + "/out.jsonl";
  std::ofstream(in) << "{\"prompt\": \"the dog\", \"id\": 1}\n{\"prompt\": \"a story\", \"id\": 2}\n"
                       "{\"prompt\": \"friends\", \"id\": 3}\n";
  auto r = run_cmd(std::string(RLHF_BINARY) + " generate --model '" + ckpt_ + "' --prompts '" + in + "' --out '" + out +
                   "' --temperature 0 --max-new-tokens 10 --batch-size 2 2>&1");
  ASSERT_EQ(r.status, 0) << r.out;
  auto recs = io::read_jsonl(out);
  ASSERT_EQ(recs.size(), 3u);
  const char* prompts[] = {"the dog", "a story", "friends"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[i]["prompt"], prompts[i]);
    EXPECT_EQ(recs[i]["id"], static_cast<int>(i + 1));
    auto [text, finished] = expected(prompts[i], 10);
    // Random weights emit arbitrary bytes; JSON output replaces invalid UTF-8 with U+FFFD.
    auto as_json = io::json::parse(io::json(text).dump(-1, ' ', false, io::json::error_handler_t::replace));
    EXPECT_EQ(recs[i]["response"], as_json) << i;
    EXPECT_EQ(recs[i]["finished"], finished) << i;
  }
}

TEST_F(GenerateCli, SeededSamplingIsReproducible) {
  const std::string cmd = std::string(RLHF_BINARY) + " generate --model '" + ckpt_ +
                          "' --prompt 'the' --temperature 1 --max-new-tokens 16 --seed 9 2>/dev/null";
  auto a = run_cmd(cmd), b = run_cmd(cmd);
  ASSERT_EQ(a.status, 0);
  EXPECT_EQ(a.out, b.out);
}

TEST_F(GenerateCli, BadFlagsFailWithOneErrorLine) {
  auto r = run_cmd(std::string(RLHF_BINARY) + " generate --model '" + ckpt_ + "' --prompt x --top-p 0 2>&1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-p"), std::string::npos) << r.out;
  r = run_cmd(std::string(RLHF_BINARY) + " generate --model '" + dir_ + "/missing' --prompt x 2>&1");
  EXPECT_EQ(r.status, 1);
}

}  // namespace
}  // namespace rlhf
