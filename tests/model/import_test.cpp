// Importers on synthetic files: a random Llama exported to llama2.c's format by hand (untied
// classifier, GQA, interleaved q/k rows) must import to the same logits; bad headers fail.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/model/import.h"

using namespace rlhf;
namespace fs = std::filesystem;

namespace {

std::string tmp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("rlhf_import_" + std::to_string(::getpid()) + "_" + name)).string();
}

// HF half-split rows -> llama2.c interleaved rows (the inverse of interleaved_to_half_split).
torch::Tensor half_split_to_interleaved(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), cols = w.size(1), D = rows / heads;
  return w.reshape({heads, 2, D / 2, cols}).transpose(1, 2).reshape({rows, cols});
}

void put(std::ofstream& f, const torch::Tensor& t) {
  auto c = t.contiguous();
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * 4);
}

// Writes `m` (llama, untied) as a version-0 llama2.c file.
void write_llama2c(const std::string& path, Transformer& m) {
  const auto& c = m->config();
  std::map<std::string, torch::Tensor> w;
  for (auto& [n, t] : m->hf_state()) w[n] = t.detach();
  std::ofstream f(path, std::ios::binary);
  int32_t hdr[7] = {int32_t(c.d_model), int32_t(c.ff_dim()), int32_t(c.n_layer), int32_t(c.n_head),
                    int32_t(c.kv_heads()), -int32_t(c.vocab_size), int32_t(c.max_seq)};
  f.write(reinterpret_cast<const char*>(hdr), sizeof(hdr));
  auto layers = [&](const std::string& name, bool q = false, bool k = false) {
    for (int64_t l = 0; l < c.n_layer; ++l) {
      auto t = w["model.layers." + std::to_string(l) + "." + name];
      if (q) t = half_split_to_interleaved(t, c.n_head);
      if (k) t = half_split_to_interleaved(t, c.kv_heads());
      put(f, t);
    }
  };
  put(f, w["model.embed_tokens.weight"]);
  layers("input_layernorm.weight");
  layers("self_attn.q_proj.weight", true);
  layers("self_attn.k_proj.weight", false, true);
  layers("self_attn.v_proj.weight");
  layers("self_attn.o_proj.weight");
  layers("post_attention_layernorm.weight");
  layers("mlp.gate_proj.weight");
  layers("mlp.down_proj.weight");
  layers("mlp.up_proj.weight");
  put(f, w["model.norm.weight"]);
  put(f, torch::zeros({c.max_seq * c.head_dim()}));  // freq_cis_real + imag
  put(f, w["lm_head.weight"]);
}

}  // namespace

TEST(Import, InterleavedToHalfSplitMovesPairs) {
  // One head, D = 4: rows (0,1) are pair 0 and (2,3) pair 1 -> rows (0,2) and (1,3).
  auto w = torch::arange(4, torch::kFloat).unsqueeze(1);
  auto h = interleaved_to_half_split(w, 1);
  EXPECT_TRUE(torch::equal(h.squeeze(1), torch::tensor({0.f, 2.f, 1.f, 3.f})));
  auto w2 = torch::arange(8, torch::kFloat).unsqueeze(1);  // two heads
  EXPECT_TRUE(torch::equal(interleaved_to_half_split(w2, 2).squeeze(1),
                           torch::tensor({0.f, 2.f, 1.f, 3.f, 4.f, 6.f, 5.f, 7.f})));
}

TEST(Import, Llama2cUntiedGqaRoundTrip) {
  ModelConfig c;
  c.arch = "llama";
  c.vocab_size = 33;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 20;
  c.max_seq = 24;
  c.bias = false;
  c.tie_embeddings = false;
  torch::manual_seed(7);
  Transformer m(c);
  {
    torch::NoGradGuard g;
    for (auto& p : m->parameters()) p.copy_(torch::randn(p.sizes()) * 0.4 + (p.dim() == 1 ? 1.0 : 0.0));
  }
  std::string path = tmp_file("m.bin");
  write_llama2c(path, m);
  EXPECT_EQ(detect_model_format(path), "llama2c");
  auto im = import_llama2c(path);
  EXPECT_FALSE(im.config.tie_embeddings);
  EXPECT_EQ(im.config.kv_heads(), 2);
  EXPECT_EQ(im.config.ff_dim(), 20);
  torch::NoGradGuard g;
  auto toks = torch::randint(33, {2, 11}, torch::kLong);
  EXPECT_LT((m->forward(toks) - im.model->forward(toks)).abs().max().item<double>(), 1e-5);

  // Trailing bytes and bad header fields are errors naming the file and the field.
  { std::ofstream(path, std::ios::binary | std::ios::app) << "xyz"; }
  try {
    import_llama2c(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  int32_t bad[7] = {16, 20, 2, 3, 1, 33, 24};  // 16 not divisible by 3 heads
  { std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bad), sizeof(bad)); }
  try {
    import_llama2c(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_heads"), std::string::npos) << e.what();
  }
  fs::remove(path);
}
