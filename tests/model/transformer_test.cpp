// Transformer forward: cache vs. no cache, left padding, an independent 1-layer GPT-2 and
// 1-layer Llama computed with plain tensor ops, autograd over every parameter, bf16 autocast.
#include <gtest/gtest.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <cmath>

#include "rlhf/model/transformer.h"

using namespace rlhf;

namespace {

ModelConfig tiny_gpt2() {
  ModelConfig c;
  c.arch = "gpt2";
  c.vocab_size = 37;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 32;
  c.max_seq = 64;
  return c;
}

ModelConfig tiny_llama(bool tie = false) {
  ModelConfig c;
  c.arch = "llama";
  c.vocab_size = 41;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 32;
  c.d_ff = 48;
  c.max_seq = 64;
  c.bias = false;
  c.tie_embeddings = tie;
  c.norm_eps = 1e-6;
  return c;
}

// Scales up every parameter so the test is sensitive (default init gives near-uniform logits).
void randomize(torch::nn::Module& m, double scale = 0.3) {
  torch::NoGradGuard g;
  for (auto& p : m.parameters()) p.copy_(torch::randn(p.sizes()) * scale + (p.dim() == 1 ? 1.0 : 0.0));
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

void check_cache_equals_full(const ModelConfig& cfg) {
  torch::manual_seed(1);
  Transformer m(cfg);
  randomize(*m);
  torch::NoGradGuard g;
  auto toks = torch::randint(cfg.vocab_size, {3, 10}, torch::kLong);
  auto full = m->forward(toks);
  auto cache = KVCache::allocate(cfg, 3, 16, torch::kFloat, torch::kCPU);
  ForwardArgs a;
  a.cache = &cache;
  auto pre = m->forward(toks.narrow(1, 0, 4), a);  // prefill 4
  EXPECT_EQ(cache.len, 4);
  EXPECT_LT(max_diff(pre, full.narrow(1, 0, 4)), 1e-5);
  for (int t = 4; t < 10; ++t) {
    auto step = m->forward(toks.narrow(1, t, 1), a);
    EXPECT_LT(max_diff(step, full.narrow(1, t, 1)), 1e-5) << "step " << t;
  }
  EXPECT_EQ(cache.len, 10);
}

void check_left_padding(const ModelConfig& cfg) {
  torch::manual_seed(2);
  Transformer m(cfg);
  randomize(*m);
  torch::NoGradGuard g;
  // Row 0: 6 real tokens; row 1: 2 pads + 4 real tokens. Then 3 decode steps with the cache.
  auto r0 = torch::randint(cfg.vocab_size, {1, 9}, torch::kLong);
  auto r1 = torch::randint(cfg.vocab_size, {1, 7}, torch::kLong);
  auto batch = torch::zeros({2, 9}, torch::kLong);
  batch[0] = r0[0];
  batch[1].narrow(0, 2, 7).copy_(r1[0]);
  auto mask = torch::ones({2, 9}, torch::kLong);
  mask[1][0] = 0;
  mask[1][1] = 0;
  auto pos = mask.cumsum(1) - 1;
  auto alone0 = m->forward(r0);
  auto alone1 = m->forward(r1);
  // Full padded forward without cache.
  ForwardArgs fa;
  fa.attention_mask = mask;
  fa.position_ids = pos;
  auto out = m->forward(batch, fa);
  // Relative to the logits' scale: the batched and the single-row products block their sums
  // differently (oneDNN picks kernels by shape), so equal to float rounding, not bit for bit.
  const double tol = 1e-5 * std::max(1.0, alone0.abs().max().item<double>());
  EXPECT_LT(max_diff(out[0], alone0[0]), tol);
  EXPECT_LT(max_diff(out[1].narrow(0, 2, 7), alone1[0]), tol);
  EXPECT_FALSE(out.isnan().any().item<bool>());
  // Prefill 6 columns, then one token at a time.
  auto cache = KVCache::allocate(cfg, 2, 9, torch::kFloat, torch::kCPU);
  for (int64_t s = 0; s < 9;) {
    int64_t n = s == 0 ? 6 : 1;
    ForwardArgs a;
    a.cache = &cache;
    a.attention_mask = mask.narrow(1, 0, s + n);
    a.position_ids = pos.narrow(1, s, n);
    auto o = m->forward(batch.narrow(1, s, n), a);
    EXPECT_LT(max_diff(o[0], alone0[0].narrow(0, s, n)), 1e-5) << s;
    if (s >= 2) EXPECT_LT(max_diff(o[1], alone1[0].narrow(0, s - 2, n)), 1e-5) << s;
    s += n;
  }
}

}  // namespace

TEST(Transformer, Gpt2CacheMatchesFullForward) { check_cache_equals_full(tiny_gpt2()); }
TEST(Transformer, LlamaGqaCacheMatchesFullForward) { check_cache_equals_full(tiny_llama()); }
TEST(Transformer, Gpt2LeftPaddedRowsMatchRowsAlone) { check_left_padding(tiny_gpt2()); }
TEST(Transformer, LlamaLeftPaddedRowsMatchRowsAlone) { check_left_padding(tiny_llama(true)); }

// One GPT-2 block computed by hand from the HF-named weights (Conv1D layout: x @ W + b).
TEST(Transformer, Gpt2OneLayerMatchesHandComputation) {
  torch::manual_seed(3);
  auto cfg = tiny_gpt2();
  cfg.n_layer = 1;
  cfg.n_head = 2;
  cfg.d_model = 8;
  Transformer m(cfg);
  randomize(*m);
  torch::NoGradGuard g;
  std::map<std::string, torch::Tensor> w;
  for (auto& [n, t] : m->hf_state()) w[n] = t.clone();
  auto toks = torch::tensor({{3, 1, 4, 1, 5}}, torch::kLong);
  const int64_t T = 5, C = 8, H = 2, D = 4;
  auto ln = [&](torch::Tensor x, const std::string& p) {
    auto mu = x.mean(-1, true);
    auto var = (x - mu).pow(2).mean(-1, true);
    return (x - mu) / torch::sqrt(var + 1e-5) * w[p + ".weight"] + w[p + ".bias"];
  };
  auto gelu = [](torch::Tensor x) {
    return 0.5 * x * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
  };
  auto x = w["transformer.wte.weight"].index_select(0, toks[0]) + w["transformer.wpe.weight"].narrow(0, 0, T);
  auto h = ln(x, "transformer.h.0.ln_1");
  auto qkv = h.matmul(w["transformer.h.0.attn.c_attn.weight"]) + w["transformer.h.0.attn.c_attn.bias"];
  std::vector<torch::Tensor> heads;
  for (int64_t hd = 0; hd < H; ++hd) {
    auto q = qkv.narrow(1, hd * D, D), k = qkv.narrow(1, C + hd * D, D), v = qkv.narrow(1, 2 * C + hd * D, D);
    auto s = q.matmul(k.t()) / std::sqrt(double(D));
    auto causal = torch::ones({T, T}).triu(1).to(torch::kBool);
    s = s.masked_fill(causal, -INFINITY);
    heads.push_back(torch::softmax(s, -1).matmul(v));
  }
  auto att = torch::cat(heads, 1).matmul(w["transformer.h.0.attn.c_proj.weight"]) + w["transformer.h.0.attn.c_proj.bias"];
  x = x + att;
  auto f = gelu(ln(x, "transformer.h.0.ln_2").matmul(w["transformer.h.0.mlp.c_fc.weight"]) +
                w["transformer.h.0.mlp.c_fc.bias"]);
  x = x + f.matmul(w["transformer.h.0.mlp.c_proj.weight"]) + w["transformer.h.0.mlp.c_proj.bias"];
  auto logits = ln(x, "transformer.ln_f").matmul(w["transformer.wte.weight"].t());
  EXPECT_LT(max_diff(m->forward(toks)[0], logits), 1e-4);
}

// One Llama block by hand: RMSNorm, RoPE (rotate_half), GQA with repeated kv heads, SwiGLU.
TEST(Transformer, LlamaOneLayerMatchesHandComputation) {
  torch::manual_seed(4);
  auto cfg = tiny_llama();
  cfg.n_layer = 1;
  cfg.d_model = 16;
  cfg.n_head = 4;
  cfg.n_kv_head = 2;
  cfg.d_ff = 24;
  cfg.rope_theta = 100.0;  // large angles make a RoPE mistake visible
  Transformer m(cfg);
  randomize(*m);
  torch::NoGradGuard g;
  std::map<std::string, torch::Tensor> w;
  for (auto& [n, t] : m->hf_state()) w[n] = t.clone();
  auto toks = torch::tensor({{7, 2, 9, 9, 30, 1}}, torch::kLong);
  const int64_t T = 6, H = 4, Hkv = 2, D = 4;
  auto rms = [&](torch::Tensor x, const std::string& n) {
    return x / torch::sqrt(x.pow(2).mean(-1, true) + 1e-6) * w[n];
  };
  auto rot = [&](torch::Tensor x /* (T, D) */) {
    auto out = torch::empty_like(x);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D / 2; ++i) {
        double ang = t * std::pow(100.0, -2.0 * i / D);
        auto a = x[t][i].item<double>(), b = x[t][i + D / 2].item<double>();
        out[t][i] = a * std::cos(ang) - b * std::sin(ang);
        out[t][i + D / 2] = b * std::cos(ang) + a * std::sin(ang);
      }
    return out;
  };
  const std::string p = "model.layers.0.";
  auto x = w["model.embed_tokens.weight"].index_select(0, toks[0]);
  auto h = rms(x, p + "input_layernorm.weight");
  auto q = h.matmul(w[p + "self_attn.q_proj.weight"].t());
  auto k = h.matmul(w[p + "self_attn.k_proj.weight"].t());
  auto v = h.matmul(w[p + "self_attn.v_proj.weight"].t());
  std::vector<torch::Tensor> heads;
  for (int64_t hd = 0; hd < H; ++hd) {
    int64_t kv = hd / (H / Hkv);
    auto qh = rot(q.narrow(1, hd * D, D)), kh = rot(k.narrow(1, kv * D, D)), vh = v.narrow(1, kv * D, D);
    auto s = qh.matmul(kh.t()) / std::sqrt(double(D));
    s = s.masked_fill(torch::ones({T, T}).triu(1).to(torch::kBool), -INFINITY);
    heads.push_back(torch::softmax(s, -1).matmul(vh));
  }
  x = x + torch::cat(heads, 1).matmul(w[p + "self_attn.o_proj.weight"].t());
  auto h2 = rms(x, p + "post_attention_layernorm.weight");
  auto gate = h2.matmul(w[p + "mlp.gate_proj.weight"].t()), up = h2.matmul(w[p + "mlp.up_proj.weight"].t());
  x = x + (gate * torch::sigmoid(gate) * up).matmul(w[p + "mlp.down_proj.weight"].t());
  auto logits = rms(x, "model.norm.weight").matmul(w["lm_head.weight"].t());
  EXPECT_LT(max_diff(m->forward(toks)[0], logits), 1e-4);
}

TEST(Transformer, EveryParameterGetsAGradient) {
  for (auto cfg : {tiny_gpt2(), tiny_llama(), tiny_llama(true)}) {
    torch::manual_seed(5);
    Transformer m(cfg);
    ScalarHead head(cfg.d_model);
    auto toks = torch::randint(cfg.vocab_size, {2, 8}, torch::kLong);
    auto logits = m->forward(toks);
    auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, cfg.vocab_size}), toks.reshape({-1})) +
                head(m->hidden(toks)).pow(2).mean();
    loss.backward();
    for (auto& p : m->named_parameters())
      EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0)
          << cfg.arch << " " << p.key();
    for (auto& p : head->parameters()) EXPECT_TRUE(p.grad().defined());
  }
}

TEST(Transformer, Bf16AutocastIsCloseToFloat) {
  torch::manual_seed(6);
  auto cfg = tiny_llama();
  Transformer m(cfg);
  torch::NoGradGuard g;
  auto toks = torch::randint(cfg.vocab_size, {2, 8}, torch::kLong);
  auto ref = m->forward(toks);
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  auto out = m->forward(toks);
  at::autocast::set_cpu_enabled(false);
  at::autocast::clear_cache();
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  EXPECT_LT(max_diff(out.to(torch::kFloat), ref), 0.05);
}

TEST(Transformer, CacheOverflowIsAnError) {
  auto cfg = tiny_gpt2();
  Transformer m(cfg);
  torch::NoGradGuard g;
  auto cache = KVCache::allocate(cfg, 1, 4, torch::kFloat, torch::kCPU);
  ForwardArgs a;
  a.cache = &cache;
  EXPECT_THROW(m->forward(torch::zeros({1, 5}, torch::kLong), a), std::exception);
}

TEST(Transformer, CloneCopiesWeights) {
  auto cfg = tiny_llama();
  Transformer m(cfg);
  randomize(*m);
  auto c = clone_transformer(m);
  torch::NoGradGuard g;
  auto toks = torch::randint(cfg.vocab_size, {1, 5}, torch::kLong);
  EXPECT_EQ(max_diff(m->forward(toks), c->forward(toks)), 0.0);
  c->parameters()[0].add_(1.0);
  EXPECT_GT(max_diff(m->forward(toks), c->forward(toks)), 0.0);
}
