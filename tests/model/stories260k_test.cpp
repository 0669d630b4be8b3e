// Real weights: stories260K (llama2.c .bin and GGUF) converted into checkpoint folders must
// reproduce the reference C implementation's greedy text. The greedy loop here runs a full
// forward per step (no cache): an independent reference for the cached generation code.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <unistd.h>

#include <filesystem>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/import.h"

using namespace rlhf;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RLHF_SHARED_DATA) + "/models/stories260K";
// From /work/shared/data/README.md: llama2.c's run.c, temperature 0, BOS then no prompt.
const std::string kReference =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
    "big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" "
    "Lily was sad and didn't know what to do.";

// BOS, then up to `steps` greedy tokens, stopping at BOS (as run.c does). Full forward each step.
std::vector<int32_t> greedy_no_cache(Transformer& m, int steps) {
  torch::NoGradGuard g;
  std::vector<int64_t> ids = {1};
  std::vector<int32_t> out;
  for (int i = 0; i < steps; ++i) {
    auto toks = torch::tensor(ids, torch::kLong).unsqueeze(0);
    int64_t next = m->forward(toks)[0][-1].argmax().item<int64_t>();
    if (next == 1) break;
    ids.push_back(next);
    out.push_back(static_cast<int32_t>(next));
  }
  return out;
}

// Same with the KV cache: prefill BOS, then one token per step.
std::vector<int32_t> greedy_cached(Transformer& m, int steps) {
  torch::NoGradGuard g;
  auto cache = KVCache::allocate(m->config(), 1, steps + 1, torch::kFloat, torch::kCPU);
  ForwardArgs a;
  a.cache = &cache;
  std::vector<int32_t> out;
  int64_t cur = 1;
  for (int i = 0; i < steps; ++i) {
    int64_t next = m->forward(torch::tensor({{cur}}, torch::kLong), a)[0][-1].argmax().item<int64_t>();
    if (next == 1) break;
    out.push_back(static_cast<int32_t>(next));
    cur = next;
  }
  return out;
}

std::string tmp_dir(const std::string& name) {
  return (fs::temp_directory_path() / ("rlhf_stories_" + std::to_string(::getpid()) + "_" + name)).string();
}

void check_folder(const std::string& dir) {
  auto ck = load_checkpoint(dir);
  ASSERT_TRUE(ck.tokenizer) << "no tokenizer saved in " << dir;
  EXPECT_EQ(ck.config.arch, "llama");
  EXPECT_EQ(ck.config.n_layer, 5);
  EXPECT_EQ(ck.config.kv_heads(), 4);
  EXPECT_TRUE(ck.config.tie_embeddings);
  auto ids = greedy_no_cache(ck.model, 256);
  std::string text = ck.tokenizer->decode(ids, true);
  EXPECT_EQ(text.substr(0, kReference.size()), kReference) << "got: " << text;
  EXPECT_EQ(greedy_cached(ck.model, 256), ids);
}

}  // namespace

TEST(Stories260K, Llama2cBinReproducesReferenceText) {
  const std::string bin = kDir + "/stories260K.bin", tok = kDir + "/tok512.model";
  if (!io::file_exists(bin) || !io::file_exists(tok)) GTEST_SKIP() << "missing " << bin << " or " << tok;
  EXPECT_EQ(detect_model_format(bin), "llama2c");
  auto m = import_llama2c(bin);
  auto tokenizer = load_tokenizer(tok);
  std::string dir = tmp_dir("bin");
  save_checkpoint(dir, m.model, tokenizer.get());
  check_folder(dir);
  fs::remove_all(dir);
}

TEST(Stories260K, GgufReproducesReferenceText) {
  const std::string gguf = kDir + "/tinyllamas-stories-260k-f32.gguf";
  if (!io::file_exists(gguf)) GTEST_SKIP() << "missing " << gguf;
  EXPECT_EQ(detect_model_format(gguf), "gguf");
  auto m = import_gguf(gguf);
  ASSERT_TRUE(m.tokenizer);
  std::string dir = tmp_dir("gguf");
  save_checkpoint(dir, m.model, m.tokenizer.get());
  check_folder(dir);
  fs::remove_all(dir);
}

TEST(Stories260K, BothFormatsGiveTheSameWeights) {
  const std::string bin = kDir + "/stories260K.bin", gguf = kDir + "/tinyllamas-stories-260k-f32.gguf";
  if (!io::file_exists(bin) || !io::file_exists(gguf)) GTEST_SKIP() << "missing stories260K files";
  auto a = import_llama2c(bin), b = import_gguf(gguf);
  auto sa = a.model->hf_state(), sb = b.model->hf_state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    EXPECT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  }
}

TEST(Stories260K, TruncatedLlama2cFileIsAnError) {
  const std::string bin = kDir + "/stories260K.bin";
  if (!io::file_exists(bin)) GTEST_SKIP() << "missing " << bin;
  std::string data = io::read_file(bin);
  std::string cut = tmp_dir("cut.bin");
  io::write_file_atomic(cut, std::string_view(data).substr(0, data.size() - 100));
  try {
    import_llama2c(cut);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  fs::remove(cut);
}
