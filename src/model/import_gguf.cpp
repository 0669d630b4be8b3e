// GGUF model import (llama architecture, F32/F16/BF16 tensors, llama.cpp tensor names), with
// the embedded vocabulary loaded by the tokenizer part.
#include <cstring>
#include <iomanip>

#include "rlhf/io/error.h"
#include "rlhf/io/gguf.h"
#include "rlhf/model/import.h"

namespace rlhf {

namespace {

torch::Tensor gguf_tensor(const io::GgufFile& g, const std::string& name, std::vector<int64_t> shape) {
  const auto* info = g.find_tensor(name);
  if (!info) throw Error(g.path() + ": missing tensor \"" + name + "\"");
  if (info->shape() != shape)
    throw Error(g.path() + ": tensor \"" + name + "\" has shape " + c10::str(info->shape()) + ", expected " +
                c10::str(shape) + " from the llama.* metadata");
  std::vector<float> v = g.tensor_to_f32(*info);
  return torch::from_blob(v.data(), shape, torch::kFloat).clone();
}

}  // namespace

ImportedModel import_gguf(const std::string& path) {
  io::GgufFile g(path);
  const std::string arch = g.get_string_or("general.architecture", "llama");
  if (arch != "llama")
    throw Error(path + ": general.architecture \"" + arch + "\" is not supported (only llama)");
  ModelConfig c;
  c.arch = "llama";
  c.d_model = static_cast<int64_t>(g.get_uint("llama.embedding_length"));
  c.n_layer = static_cast<int64_t>(g.get_uint("llama.block_count"));
  c.d_ff = static_cast<int64_t>(g.get_uint("llama.feed_forward_length"));
  c.n_head = static_cast<int64_t>(g.get_uint("llama.attention.head_count"));
  c.n_kv_head = static_cast<int64_t>(g.get_uint_or("llama.attention.head_count_kv", c.n_head));
  c.max_seq = static_cast<int64_t>(g.get_uint_or("llama.context_length", 2048));
  // GGUF stores these as float32: keep the shortest decimal that round-trips (1e-05, not 9.99e-06).
  auto f32 = [](double v) { return std::stod(c10::str(std::setprecision(7), static_cast<float>(v))); };
  c.norm_eps = f32(g.get_float_or("llama.attention.layer_norm_rms_epsilon", 1e-5));
  c.rope_theta = f32(g.get_float_or("llama.rope.freq_base", 10000.0));
  c.bias = false;
  if (c.n_head <= 0 || c.d_model % c.n_head != 0)
    throw Error(path + ": llama.embedding_length " + std::to_string(c.d_model) +
                " is not divisible by llama.attention.head_count " + std::to_string(c.n_head));
  if (c.n_kv_head <= 0 || c.n_head % c.n_kv_head != 0)
    throw Error(path + ": llama.attention.head_count " + std::to_string(c.n_head) +
                " is not a multiple of llama.attention.head_count_kv " + std::to_string(c.n_kv_head));
  if (g.has("llama.rope.dimension_count") && static_cast<int64_t>(g.get_uint("llama.rope.dimension_count")) != c.d_model / c.n_head)
    throw Error(path + ": llama.rope.dimension_count differs from the head size (partial RoPE is not supported)");
  const auto& emb_info = g.tensor("token_embd.weight");
  auto emb_shape = emb_info.shape();
  if (emb_shape.size() != 2 || emb_shape[1] != c.d_model)
    throw Error(path + ": tensor \"token_embd.weight\" has shape " + c10::str(emb_shape) + ", expected [vocab, " +
                std::to_string(c.d_model) + "]");
  c.vocab_size = emb_shape[0];
  // Some converters (llama.cpp's llama2c importer) write output.weight even for tied models: a
  // bitwise copy of the embedding is stored as a tie.
  const auto* out_info = g.find_tensor("output.weight");
  c.tie_embeddings = out_info == nullptr ||
                     (out_info->type == emb_info.type && out_info->shape() == emb_shape &&
                      std::memcmp(g.tensor_data(*out_info), g.tensor_data(emb_info), emb_info.n_bytes) == 0);
  auto id = [&](const char* key) {
    if (!g.has(key)) return int64_t{-1};
    int64_t v = g.get_int(key);
    return v >= 0 && v < c.vocab_size ? v : int64_t{-1};
  };
  c.bos_id = id("tokenizer.ggml.bos_token_id");
  c.eos_id = id("tokenizer.ggml.eos_token_id");
  c.pad_id = id("tokenizer.ggml.padding_token_id");
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }

  const int64_t C = c.d_model, F = c.d_ff, D = c.head_dim(), H = c.n_head, Hkv = c.kv_heads(), V = c.vocab_size;
  std::vector<std::pair<std::string, torch::Tensor>> t;
  t.emplace_back("model.embed_tokens.weight", gguf_tensor(g, "token_embd.weight", {V, C}));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string s = "blk." + std::to_string(l) + ".", p = "model.layers." + std::to_string(l) + ".";
    t.emplace_back(p + "input_layernorm.weight", gguf_tensor(g, s + "attn_norm.weight", {C}));
    // llama.cpp's converters permute q/k rows into the interleaved layout of its RoPE; undo it.
    t.emplace_back(p + "self_attn.q_proj.weight", interleaved_to_half_split(gguf_tensor(g, s + "attn_q.weight", {H * D, C}), H));
    t.emplace_back(p + "self_attn.k_proj.weight",
                   interleaved_to_half_split(gguf_tensor(g, s + "attn_k.weight", {Hkv * D, C}), Hkv));
    t.emplace_back(p + "self_attn.v_proj.weight", gguf_tensor(g, s + "attn_v.weight", {Hkv * D, C}));
    t.emplace_back(p + "self_attn.o_proj.weight", gguf_tensor(g, s + "attn_output.weight", {C, H * D}));
    t.emplace_back(p + "post_attention_layernorm.weight", gguf_tensor(g, s + "ffn_norm.weight", {C}));
    t.emplace_back(p + "mlp.gate_proj.weight", gguf_tensor(g, s + "ffn_gate.weight", {F, C}));
    t.emplace_back(p + "mlp.up_proj.weight", gguf_tensor(g, s + "ffn_up.weight", {F, C}));
    t.emplace_back(p + "mlp.down_proj.weight", gguf_tensor(g, s + "ffn_down.weight", {C, F}));
  }
  t.emplace_back("model.norm.weight", gguf_tensor(g, "output_norm.weight", {C}));
  if (!c.tie_embeddings) t.emplace_back("lm_head.weight", gguf_tensor(g, "output.weight", {V, C}));

  ImportedModel m;
  m.config = c;
  m.model = Transformer(c);
  m.model->load_hf_state(t, path);
  m.tokenizer = load_tokenizer(path);
  return m;
}

}  // namespace rlhf
