// The decoder-only transformer (GPT-2 and Llama layouts from one ModelConfig), its KV cache, and
// the scalar head that turns the trunk into a value or reward model.
//
// Shapes: B = batch, T = new tokens this call, S = cache length after this call (= past + T),
// C = d_model, V = vocab_size, H = query heads, Hkv = key/value heads, D = head_dim.
#pragma once
#include <torch/torch.h>

#include <array>

#include <vector>

#include "rlhf/model/config.h"

namespace rlhf {

// Per-layer keys and values, preallocated to a capacity and filled left to right.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer (B, Hkv, capacity, D)
  int64_t len = 0;                  // positions filled so far (same for every row)
  int64_t capacity = 0;
  // Allocates for `batch` rows and `capacity` positions with the model's dtype/device.
  static KVCache allocate(const ModelConfig& cfg, int64_t batch, int64_t capacity, torch::Dtype dtype,
                          torch::Device device);
  // Keeps only the given rows (e.g. when finished sequences are dropped). rows: (B') int64.
  void select_rows(const torch::Tensor& rows);
};

struct ForwardArgs {
  // (B, S) 1 = real token, 0 = padding, covering cached positions and the T new ones.
  // Undefined = every position is real. Padding keys are never attended to.
  torch::Tensor attention_mask;
  // (B, T) int64 positions of the new tokens (for learned positions / RoPE). Undefined =
  // cache->len + arange(T) (or arange(T) without a cache). With left padding, pass
  // cumsum(mask) - 1 so every row's first real token sits at position 0.
  torch::Tensor position_ids;
  // When given, the new keys/values are written at [len, len+T) and len advances by T.
  KVCache* cache = nullptr;
  // (B, T) int64 document index of every position, for packed rows holding several sequences:
  // a query attends only to earlier keys of its own document (block-diagonal causal mask).
  // Pair it with position_ids restarting at 0 for each document. Not allowed with a cache.
  torch::Tensor segment_ids;
  // > 0: hidden() returns only the last keep_last positions (B, keep_last, C), and the last layer
  // computes its queries, attention output and MLP for those rows only (keys and values for all).
  // PPO's log-probs and values need only the response positions, which end every row. 0 = all.
  int64_t keep_last = 0;
  // (B) int64: hidden() returns only position keep_index[b] of each row (B, 1, C), and the last
  // layer runs its query, attention output and MLP for those rows only (a reward model's score
  // reads the last token of each right-padded row). Not with keep_last, a cache or segment_ids.
  torch::Tensor keep_index;
};

namespace detail {
// One block's parameters, in torch.nn.Linear layout (out, in). Attention projections are fused
// (q, k, v rows stacked: (H*D + 2*Hkv*D, C)); llama's gate and up projections are fused too
// ((2F, C), gate rows first). hf_state() exposes HF-named views into these tensors.
struct BlockImpl : torch::nn::Module {
  explicit BlockImpl(const ModelConfig& cfg);
  torch::Tensor norm1_w, norm1_b;  // ln_1 / input_layernorm (b: gpt2 only)
  torch::Tensor qkv_w, qkv_b;      // (H*D + 2*Hkv*D, C), (H*D + 2*Hkv*D)
  torch::Tensor out_w, out_b;      // (C, H*D), (C)
  torch::Tensor norm2_w, norm2_b;  // ln_2 / post_attention_layernorm
  torch::Tensor up_w, up_b;        // gpt2 c_fc (F, C); llama [gate; up] (2F, C)
  torch::Tensor down_w, down_b;    // gpt2 mlp.c_proj / llama down_proj (C, F)
};
TORCH_MODULE(Block);
struct AttnMask;  // per-forward attention bias, built once and shared by every layer
}  // namespace detail

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelConfig& cfg);

  // tokens (B, T) int64 -> final-normed hidden states (B, T, C).
  torch::Tensor hidden(const torch::Tensor& tokens, const ForwardArgs& args = {});
  // hidden (B, T, C) -> logits (B, T, V) (tied or separate LM head).
  torch::Tensor lm_head(const torch::Tensor& hidden);
  // tokens -> logits (B, T, V).
  torch::Tensor forward(const torch::Tensor& tokens, const ForwardArgs& args = {});

  // Values of one forward over `tokens` computed elsewhere with these weights (the decode
  // engine's DecodeRecording): per layer (B, T, width) float tensors of the fused q|k|v
  // projection, the residual stream after the attention, the MLP pre-activation and the residual
  // stream after the block.
  struct Replay {
    std::vector<torch::Tensor> qkv, x_mid, up, x_out;
    std::array<std::vector<torch::Tensor>*, 4> all() { return {&qkv, &x_mid, &up, &x_out}; }
    std::array<const std::vector<torch::Tensor>*, 4> all() const { return {&qkv, &x_mid, &up, &x_out}; }
  };
  // hidden() whose linear layers return the recorded values instead of computing their products:
  // the same autograd graph (the backward is hidden()'s, at the recorded activations), for the
  // price of the norms, the attention and the GELU. Takes args' attention_mask, position_ids and
  // keep_last (not a cache, segment_ids or keep_index). GPT-2 layout with the fused training
  // operators (fp32, or bf16 training) only; throws otherwise.
  torch::Tensor hidden_replay(const torch::Tensor& tokens, const ForwardArgs& args, const Replay& act);
  // lm_head() whose logits (B, T, V) are already known: returns them, with lm_head()'s backward.
  torch::Tensor lm_head_replay(const torch::Tensor& hidden, const torch::Tensor& logits);
  // Whether hidden_replay() can run for this model now (GPT-2 layout, fused training operators).
  bool can_replay() const;

  const ModelConfig& config() const { return cfg_; }

  // Parameters keyed by Hugging Face tensor names ("transformer.h.0.attn.c_attn.weight" for
  // gpt2, "model.layers.0.self_attn.q_proj.weight" for llama), in the HF layout (gpt2's Conv1D
  // weights are stored transposed, as HF stores them). Used by checkpoint save/load.
  std::vector<std::pair<std::string, torch::Tensor>> hf_state() const;
  // Copies tensors in by HF name; throws rlhf::Error naming the tensor on a missing name or a
  // wrong shape. `where` names the file.
  void load_hf_state(const std::vector<std::pair<std::string, torch::Tensor>>& tensors, const std::string& where);

 private:
  // One HF-named tensor and the view of our parameter it maps to (HF layout).
  struct HfSlot {
    std::string name;
    torch::Tensor view;
  };
  std::vector<HfSlot> hf_slots() const;
  torch::Tensor norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const;
  torch::Tensor attention(const detail::BlockImpl& blk, int64_t layer, const torch::Tensor& h,
                          detail::AttnMask& mask, const torch::Tensor& cos, const torch::Tensor& sin,
                          KVCache* cache) const;
  // The fused attention with queries for the last `keep` rows only (ForwardArgs::keep_last), or for
  // one position per row (`index` (B) defined: ForwardArgs::keep_index).
  torch::Tensor attention_tail(const detail::BlockImpl& blk, const torch::Tensor& h, detail::AttnMask& mask,
                               const torch::Tensor& cos, const torch::Tensor& sin, int64_t keep,
                               const torch::Tensor& index) const;
  // The fused attention over a projection qkv (B, T, H + 2 Hkv, D) with queries for the last
  // `keep` rows (or one per row at `index`): (B, keep, H*D) before the output projection. RoPE
  // tables when given.
  torch::Tensor fused_heads(const torch::Tensor& qkv, const detail::AttnMask& mask, const torch::Tensor& cos,
                            const torch::Tensor& sin, int64_t keep, const torch::Tensor& index) const;
  torch::Tensor mlp(const detail::BlockImpl& blk, const torch::Tensor& h) const;
  // RoPE tables (positions, D/2) in float, rebuilt when a longer sequence or another device asks.
  void ensure_rope(int64_t n, torch::Device device);
  // The causal additive bias (1, G*T, T) for the op-by-op path, cached across calls.
  torch::Tensor causal_bias(int64_t T, torch::ScalarType dtype, torch::Device device);

  ModelConfig cfg_;
  torch::Tensor wte_;             // (V, C) token embedding (also the LM head when tied)
  torch::Tensor wpe_;             // (max_seq, C) learned positions (gpt2)
  std::vector<detail::Block> blocks_;
  torch::Tensor normf_w_, normf_b_;  // final LayerNorm / RMSNorm
  torch::Tensor head_w_;          // (V, C) untied LM head; undefined when tied
  torch::Tensor rope_cos_, rope_sin_;  // not registered: stay float whatever the model dtype
  torch::Tensor causal_bias_;          // cache of causal_bias()
};
TORCH_MODULE(Transformer);

// A deep copy with the same config and weights (e.g. the frozen reference policy).
Transformer clone_transformer(const Transformer& m);

// Linear(C, 1) on top of hidden states: value model (all positions) and reward model (last
// real token). Stored in safetensors as "score.weight" / "score.bias".
class ScalarHeadImpl : public torch::nn::Module {
 public:
  explicit ScalarHeadImpl(int64_t d_model);
  torch::Tensor forward(const torch::Tensor& hidden);  // (B, T, C) -> (B, T)
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(ScalarHead);

}  // namespace rlhf
