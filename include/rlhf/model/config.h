// ModelConfig: one struct describes every decoder-only transformer the project runs, in the
// GPT-2 layout (learned positions, LayerNorm, GELU, biases, tied embeddings) or the Llama
// layout (RoPE, RMSNorm, SwiGLU, grouped-query attention, optional tied embeddings).
// It reads and writes Hugging Face config.json (GPT2LMHeadModel / LlamaForCausalLM).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace rlhf {

struct ModelConfig {
  std::string arch = "gpt2";   // "gpt2" or "llama"
  int64_t vocab_size = 0;      // rows of the token embedding
  int64_t n_layer = 2;         // transformer blocks
  int64_t n_head = 2;          // query heads
  int64_t n_kv_head = 0;       // key/value heads (GQA); 0 = n_head
  int64_t d_model = 64;        // residual width
  int64_t d_ff = 0;            // MLP hidden width; 0 = 4*d_model (gpt2) or Llama's rule (llama)
  int64_t max_seq = 256;       // context length (learned positions for gpt2; RoPE cache for llama)
  double norm_eps = 1e-5;      // LayerNorm / RMSNorm epsilon
  double rope_theta = 10000.0; // RoPE base (llama)
  bool tie_embeddings = true;  // LM head shares the token embedding
  bool bias = true;            // biases in linear layers (gpt2: true; llama: false)
  int64_t bos_id = -1, eos_id = -1, pad_id = -1;  // -1 = none

  int64_t kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
  int64_t head_dim() const { return d_model / n_head; }
  int64_t ff_dim() const;

  // Throws rlhf::Error naming the field and the rule it breaks.
  void validate() const;
  // Hugging Face config.json (model_type "gpt2" or "llama").
  nlohmann::json to_hf_json() const;
  // `where` names the file in errors ("ckpt/config.json: missing field \"n_embd\"").
  static ModelConfig from_hf_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace rlhf
