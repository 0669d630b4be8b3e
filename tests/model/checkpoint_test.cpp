// Checkpoint folders: save/load round trips (GPT-2 + scalar head, Llama GQA tied and untied),
// HF naming variants, tied weights stored once, and errors naming the file and tensor.
#include "rlhf/model/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/io/safetensors.h"
#include "rlhf/model/tensor_io.h"

using namespace rlhf;
namespace fs = std::filesystem;

namespace {

std::string tmp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("rlhf_ckpt_test_" + std::to_string(::getpid())) / name;
  fs::create_directories(d.parent_path());
  return d.string();
}

ModelConfig gpt2_cfg() {
  ModelConfig c;
  c.arch = "gpt2";
  c.vocab_size = 50;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  c.max_seq = 32;
  c.eos_id = 49;
  return c;
}

ModelConfig llama_cfg(bool tie) {
  ModelConfig c;
  c.arch = "llama";
  c.vocab_size = 60;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 24;
  c.max_seq = 32;
  c.bias = false;
  c.tie_embeddings = tie;
  c.bos_id = 1;
  c.eos_id = 2;
  return c;
}

void randomize(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& p : m.parameters()) p.copy_(torch::randn(p.sizes()) * 0.5);
}

std::set<std::string> names_in(const std::string& file) {
  io::SafetensorsFile f(file);
  std::set<std::string> s;
  for (const auto& t : f.tensors()) s.insert(t.name);
  return s;
}

template <typename F>
void expect_error(F f, std::vector<std::string> needles) {
  try {
    f();
    FAIL() << "no error";
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Checkpoint, Gpt2WithHeadRoundTrips) {
  torch::manual_seed(1);
  Transformer m(gpt2_cfg());
  ScalarHead head(16);
  randomize(*m);
  randomize(*head);
  std::string dir = tmp_dir("gpt2");
  nlohmann::json stats = {{"mean", 0.25}, {"std", 2.0}};
  save_checkpoint(dir, m, nullptr, &head, {{"reward_stats.json", stats}});
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
  for (auto f : {"config.json", "model.safetensors", "generation_config.json", "reward_stats.json"})
    EXPECT_TRUE(fs::exists(dir + "/" + f)) << f;
  auto names = names_in(dir + "/model.safetensors");
  EXPECT_TRUE(names.count("transformer.wte.weight"));
  EXPECT_TRUE(names.count("transformer.h.1.attn.c_attn.weight"));
  EXPECT_FALSE(names.count("lm_head.weight"));  // tied: stored once, as HF does
  EXPECT_TRUE(names.count("score.weight") && names.count("score.bias"));
  // HF Conv1D layout: c_attn is (in, out) = (C, 3C).
  EXPECT_EQ(io::SafetensorsFile(dir + "/model.safetensors").get("transformer.h.0.attn.c_attn.weight").shape,
            (std::vector<int64_t>{16, 48}));
  auto gen = io::read_json(dir + "/generation_config.json");
  EXPECT_EQ(gen["eos_token_id"], 49);

  auto ck = load_checkpoint(dir);
  EXPECT_FALSE(ck.tokenizer);
  ASSERT_FALSE(ck.head.is_empty());
  EXPECT_EQ(ck.extra.at("reward_stats.json"), stats);
  torch::NoGradGuard g;
  auto toks = torch::randint(50, {2, 7}, torch::kLong);
  EXPECT_TRUE(torch::equal(m->forward(toks), ck.model->forward(toks)));
  EXPECT_TRUE(torch::equal(head(m->hidden(toks)), ck.head(ck.model->hidden(toks))));
}

TEST(Checkpoint, LlamaGqaTiedAndUntiedRoundTrip) {
  for (bool tie : {true, false}) {
    torch::manual_seed(2);
    Transformer m(llama_cfg(tie));
    randomize(*m);
    std::string dir = tmp_dir(tie ? "llama_tied" : "llama_untied");
    save_checkpoint(dir, m, nullptr);
    auto names = names_in(dir + "/model.safetensors");
    EXPECT_TRUE(names.count("model.embed_tokens.weight"));
    EXPECT_TRUE(names.count("model.layers.1.self_attn.k_proj.weight"));
    EXPECT_EQ(names.count("lm_head.weight"), tie ? 0u : 1u);
    EXPECT_EQ(io::SafetensorsFile(dir + "/model.safetensors").get("model.layers.0.self_attn.k_proj.weight").shape,
              (std::vector<int64_t>{8, 16}));  // 2 kv heads x 4 dims
    auto ck = load_checkpoint(dir);
    EXPECT_EQ(ck.config.kv_heads(), 2);
    EXPECT_EQ(ck.config.tie_embeddings, tie);
    EXPECT_TRUE(ck.head.is_empty());
    torch::NoGradGuard g;
    auto toks = torch::randint(60, {2, 9}, torch::kLong);
    EXPECT_TRUE(torch::equal(m->forward(toks), ck.model->forward(toks)));
    // Saving again over the folder replaces it atomically.
    save_checkpoint(dir, ck.model, nullptr);
    EXPECT_TRUE(torch::equal(m->forward(toks), load_checkpoint(dir).model->forward(toks)));
  }
}

TEST(Checkpoint, LoadsInBf16) {
  Transformer m(llama_cfg(true));
  std::string dir = tmp_dir("bf16");
  save_checkpoint(dir, m, nullptr);
  auto ck = load_checkpoint(dir, torch::kCPU, torch::kBFloat16);
  for (auto& p : ck.model->parameters()) EXPECT_EQ(p.scalar_type(), torch::kBFloat16);
  // A bf16 model saves BF16 tensors, and they load back upcast.
  save_checkpoint(dir, ck.model, nullptr);
  EXPECT_EQ(io::SafetensorsFile(dir + "/model.safetensors").get("model.norm.weight").dtype, "BF16");
  EXPECT_EQ(io::read_json(dir + "/config.json")["torch_dtype"], "bfloat16");
  auto back = load_checkpoint(dir);
  EXPECT_EQ(back.model->parameters()[0].scalar_type(), torch::kFloat);
}

TEST(Checkpoint, AcceptsHfGpt2NamingVariants) {
  torch::manual_seed(3);
  Transformer m(gpt2_cfg());
  randomize(*m);
  std::string dir = tmp_dir("variants");
  save_checkpoint(dir, m, nullptr);
  // Rewrite the weights without the "transformer." prefix and with a duplicate lm_head.weight,
  // plus the attn.bias mask buffers older checkpoints carry.
  NamedTensors t;
  for (auto& [n, v] : m->hf_state()) t.emplace_back(n.substr(std::string("transformer.").size()), v);
  t.emplace_back("lm_head.weight", m->hf_state()[0].second);
  t.emplace_back("h.0.attn.bias", torch::ones({1, 1, 32, 32}));
  save_safetensors(dir + "/model.safetensors", t);
  auto ck = load_checkpoint(dir);
  torch::NoGradGuard g;
  auto toks = torch::randint(50, {1, 6}, torch::kLong);
  EXPECT_TRUE(torch::equal(m->forward(toks), ck.model->forward(toks)));
}

TEST(Checkpoint, WrongMissingOrUnexpectedTensorsNameFileAndTensor) {
  Transformer m(llama_cfg(false));
  std::string dir = tmp_dir("bad");
  save_checkpoint(dir, m, nullptr);
  const std::string st = dir + "/model.safetensors";
  auto good = m->hf_state();
  auto write_with = [&](const std::function<void(NamedTensors&)>& edit) {
    NamedTensors t = good;
    edit(t);
    save_safetensors(st, t);
  };
  write_with([](NamedTensors& t) {
    for (auto& [n, v] : t)
      if (n == "model.layers.1.mlp.up_proj.weight") v = torch::zeros({25, 16});
  });
  expect_error([&] { load_checkpoint(dir); }, {st, "model.layers.1.mlp.up_proj.weight", "shape"});
  write_with([](NamedTensors& t) { t.erase(t.begin() + 3); });
  expect_error([&] { load_checkpoint(dir); }, {st, "missing tensor", good[3].first});
  write_with([](NamedTensors& t) { t.emplace_back("model.layers.7.mlp.up_proj.weight", torch::zeros({1})); });
  expect_error([&] { load_checkpoint(dir); }, {st, "unexpected tensor", "model.layers.7"});
  write_with([](NamedTensors& t) { t.emplace_back("score.weight", torch::zeros({2, 16})); });
  expect_error([&] { load_checkpoint(dir); }, {st, "score.weight"});
  // config.json errors name config.json.
  save_checkpoint(dir, m, nullptr);
  auto cfg = io::read_json(dir + "/config.json");
  cfg["num_attention_heads"] = 5;
  io::write_json_atomic(dir + "/config.json", cfg);
  expect_error([&] { load_checkpoint(dir); }, {dir + "/config.json", "hidden_size"});
  expect_error([&] { load_checkpoint(tmp_dir("absent")); }, {"config.json"});
}

TEST(Checkpoint, WriteMoreRunsInsideTheTempFolder) {
  Transformer m(gpt2_cfg());
  std::string dir = tmp_dir("more");
  save_checkpoint(dir, m, nullptr, nullptr, {}, [](const std::string& tmp) {
    io::write_file_atomic(io::join_path(tmp, "trainer_state.json"), "{\"step\": 3}");
  });
  EXPECT_EQ(load_checkpoint(dir).extra.at("trainer_state.json")["step"], 3);
  // A failure inside write_more leaves the previous folder untouched.
  EXPECT_THROW(save_checkpoint(dir, m, nullptr, nullptr, {},
                               [](const std::string&) { throw Error("simulated crash"); }),
               Error);
  EXPECT_TRUE(fs::exists(dir + "/trainer_state.json"));
  EXPECT_EQ(load_checkpoint(dir).extra.at("trainer_state.json")["step"], 3);
}
