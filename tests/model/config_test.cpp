// ModelConfig: HF config.json round trips and the errors for missing / contradictory fields.
#include <gtest/gtest.h>

#include "rlhf/io/error.h"
#include "rlhf/model/config.h"

using namespace rlhf;
using json = nlohmann::json;

namespace {

// Expects rlhf::Error containing every needle.
template <typename F>
void expect_error(F f, std::vector<std::string> needles) {
  try {
    f();
    FAIL() << "no error";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

json gpt2_json() {
  return json::parse(R"({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": 50257,
    "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024, "n_inner": null,
    "layer_norm_epsilon": 1e-05, "activation_function": "gelu_new", "bos_token_id": 50256, "eos_token_id": 50256})");
}

json llama_json() {
  return json::parse(R"({"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
    "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
    "num_key_value_heads": 4, "max_position_embeddings": 2048, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
    "tie_word_embeddings": false, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2})");
}

}  // namespace

TEST(ModelConfig, ReadsHfGpt2) {
  auto c = ModelConfig::from_hf_json(gpt2_json(), "x/config.json");
  EXPECT_EQ(c.arch, "gpt2");
  EXPECT_EQ(c.vocab_size, 50257);
  EXPECT_EQ(c.d_model, 768);
  EXPECT_EQ(c.ff_dim(), 3072);
  EXPECT_EQ(c.max_seq, 1024);
  EXPECT_TRUE(c.tie_embeddings);  // HF's default for GPT-2
  EXPECT_TRUE(c.bias);
  EXPECT_EQ(c.eos_id, 50256);
  EXPECT_EQ(c.pad_id, -1);
}

TEST(ModelConfig, ReadsHfLlamaWithGqa) {
  auto c = ModelConfig::from_hf_json(llama_json(), "x/config.json");
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.kv_heads(), 4);
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_EQ(c.ff_dim(), 5632);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_FALSE(c.bias);
  EXPECT_DOUBLE_EQ(c.norm_eps, 1e-5);
  EXPECT_EQ(c.bos_id, 1);
}

TEST(ModelConfig, RoundTripsThroughHfJson) {
  for (auto j : {gpt2_json(), llama_json()}) {
    auto a = ModelConfig::from_hf_json(j, "a");
    auto b = ModelConfig::from_hf_json(a.to_hf_json(), "b");
    EXPECT_EQ(a.to_hf_json(), b.to_hf_json());
    EXPECT_EQ(b.arch, a.arch);
    EXPECT_EQ(b.ff_dim(), a.ff_dim());
    EXPECT_EQ(b.kv_heads(), a.kv_heads());
  }
  auto j = ModelConfig::from_hf_json(llama_json(), "a").to_hf_json();
  EXPECT_EQ(j["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(j["num_key_value_heads"], 4);
  EXPECT_EQ(j["hidden_act"], "silu");
}

TEST(ModelConfig, DerivedFfDims) {
  ModelConfig c;
  c.arch = "gpt2";
  c.d_model = 64;
  EXPECT_EQ(c.ff_dim(), 256);
  c.arch = "llama";
  c.d_model = 4096;  // Llama-7B: 2/3 * 4 * 4096 = 10922.67 -> 11008 (next multiple of 256)
  EXPECT_EQ(c.ff_dim(), 11008);
  c.d_ff = 100;
  EXPECT_EQ(c.ff_dim(), 100);
}

TEST(ModelConfig, ErrorsNameTheFileAndField) {
  auto j = gpt2_json();
  j.erase("n_embd");
  expect_error([&] { ModelConfig::from_hf_json(j, "ck/config.json"); }, {"ck/config.json", "n_embd"});
  j = llama_json();
  j["num_attention_heads"] = 30;  // 2048 % 30 != 0
  expect_error([&] { ModelConfig::from_hf_json(j, "ck/config.json"); }, {"ck/config.json", "hidden_size"});
  j = llama_json();
  j["num_key_value_heads"] = 3;  // 32 % 3 != 0
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"c.json", "num_key_value_heads"});
  j = llama_json();
  j["model_type"] = "mistralish";
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"c.json", "model_type", "mistralish"});
  j = llama_json();
  j.erase("model_type");
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"c.json", "model_type"});
  j = gpt2_json();
  j["activation_function"] = "relu";
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"activation_function", "relu"});
  j = gpt2_json();
  j["n_layer"] = "twelve";
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"n_layer", "integer"});
  j = llama_json();
  j["vocab_size"] = 0;
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"vocab_size", "positive"});
  j = llama_json();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  expect_error([&] { ModelConfig::from_hf_json(j, "c.json"); }, {"rope_scaling"});
  expect_error([&] { ModelConfig::from_hf_json(json::array(), "c.json"); }, {"c.json", "object"});
}

TEST(ModelConfig, ValidateNamesTheField) {
  ModelConfig c;
  c.vocab_size = 10;
  c.validate();
  c.d_model = 30;
  c.n_head = 4;
  expect_error([&] { c.validate(); }, {"d_model", "n_head"});
  c = ModelConfig();
  c.vocab_size = 10;
  c.arch = "rwkv";
  expect_error([&] { c.validate(); }, {"arch", "rwkv"});
  c = ModelConfig();
  c.vocab_size = 10;
  c.arch = "llama";
  c.n_head = 4;
  c.n_kv_head = 3;
  expect_error([&] { c.validate(); }, {"n_kv_head"});
  c = ModelConfig();
  c.vocab_size = 0;
  expect_error([&] { c.validate(); }, {"vocab_size"});
}
