// The decoder-only transformer: GPT-2 layout (learned positions, LayerNorm, GELU-tanh, biases)
// and Llama layout (RoPE in HF's rotate_half convention, RMSNorm, SwiGLU, grouped-query
// attention) from one ModelConfig, with an in-place KV cache.
//
// B = batch, T = new tokens, P = cached positions before this call, S = P + T, C = d_model,
// H = query heads, Hkv = kv heads, G = H / Hkv, D = head_dim, F = ff_dim, V = vocab.
#include "rlhf/model/transformer.h"

#include <ATen/autocast_mode.h>

#include <array>
#include <cmath>
#include <functional>
#include <map>

#include "kernels/train_ops.h"
#include "kernels/train_ops_bf16.h"
#include "rlhf/io/error.h"

namespace rlhf {

namespace {

bool inplace_ok() { return !torch::GradMode::is_enabled(); }

bool bf16_training() { return kernels::train_matmul_dtype() == at::kBFloat16; }

// The fused operators (kernels/train_ops.h) run for every fp32 CPU forward over whole sequences:
// training, and the no-grad scoring / reference / value forwards of PPO and evaluation (where
// libtorch's fp32 matmul would go to OpenBLAS). Under bf16 training (kernels/train_ops_bf16.h)
// the linear layers take bf16 products, with or without gradients, so a no-grad forward inside a
// bf16 step (PPO's old log-probs) computes exactly what the training forward does. Cached decoding
// and plain bf16 autocast take the op-by-op path.
bool use_train_ops(const torch::Tensor& x, bool has_cache) { return !has_cache && kernels::train_ops_apply(x); }

// Under bf16 training the Trainer enables autocast (for modules outside the Transformer) and sets
// the kernels' bf16 training matmul dtype. The fused operators do their own bf16 matmuls on fp32
// tensors and switch themselves off under autocast, so autocast is lifted while the Transformer
// runs them: when `fused_possible` (no KV cache) and they apply to tensors like `probe` once it
// is lifted.
class LiftAutocastForTrainOps {
 public:
  LiftAutocastForTrainOps(const torch::Tensor& probe, bool fused_possible) {
    if (!fused_possible || !bf16_training() || !at::autocast::is_cpu_enabled()) return;
    at::autocast::set_cpu_enabled(false);
    lifted_ = kernels::train_ops_apply(probe);
    if (!lifted_) at::autocast::set_cpu_enabled(true);
  }
  ~LiftAutocastForTrainOps() {
    if (lifted_) at::autocast::set_cpu_enabled(true);
  }
  LiftAutocastForTrainOps(const LiftAutocastForTrainOps&) = delete;
  LiftAutocastForTrainOps& operator=(const LiftAutocastForTrainOps&) = delete;

 private:
  bool lifted_ = false;
};

// Fused linear layers take bf16 matmul operands under bf16 training (the attention stays fp32).
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, bool fused) {
  if (!fused) return at::linear(x, w, b);
  return bf16_training() ? kernels::train_linear_bf16(x, w, b) : kernels::train_linear(x, w, b);
}

// (B, T) positions of T new tokens after P cached ones: args.position_ids (padded slots, negative
// under cumsum(mask) - 1, read 0) or P + arange(T).
torch::Tensor positions(const ForwardArgs& args, int64_t B, int64_t T, int64_t P, torch::Device dev) {
  if (args.position_ids.defined()) {
    if (args.position_ids.size(0) != B || args.position_ids.size(1) != T)
      throw Error("position_ids must be (B, T) = (" + std::to_string(B) + ", " + std::to_string(T) + ")");
    return args.position_ids.clamp_min(0);
  }
  return torch::arange(P, P + T, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0).expand({B, T});
}

torch::Tensor new_param(torch::nn::Module& m, const std::string& name, torch::Tensor t) {
  return m.register_parameter(name, std::move(t));
}

}  // namespace

namespace detail {

BlockImpl::BlockImpl(const ModelConfig& cfg) {
  const int64_t C = cfg.d_model, D = cfg.head_dim(), H = cfg.n_head, Hkv = cfg.kv_heads(), F = cfg.ff_dim();
  const int64_t qkv = (H + 2 * Hkv) * D;
  const bool gpt2 = cfg.arch == "gpt2";
  const double std = 0.02, std_res = 0.02 / std::sqrt(2.0 * cfg.n_layer);  // GPT-2's scaled residual init
  norm1_w = new_param(*this, "norm1_w", torch::ones({C}));
  if (gpt2) norm1_b = new_param(*this, "norm1_b", torch::zeros({C}));
  qkv_w = new_param(*this, "qkv_w", torch::randn({qkv, C}) * std);
  out_w = new_param(*this, "out_w", torch::randn({C, H * D}) * std_res);
  norm2_w = new_param(*this, "norm2_w", torch::ones({C}));
  if (gpt2) norm2_b = new_param(*this, "norm2_b", torch::zeros({C}));
  up_w = new_param(*this, "up_w", torch::randn({gpt2 ? F : 2 * F, C}) * std);
  down_w = new_param(*this, "down_w", torch::randn({C, F}) * std_res);
  if (cfg.bias) {
    qkv_b = new_param(*this, "qkv_b", torch::zeros({qkv}));
    out_b = new_param(*this, "out_b", torch::zeros({C}));
    up_b = new_param(*this, "up_b", torch::zeros({gpt2 ? F : 2 * F}));
    down_b = new_param(*this, "down_b", torch::zeros({C}));
  }
}

// Additive attention bias (B*Hkv, G*T, S): 0 where a query may attend, a large negative number
// where the key is in the future or padding. Built lazily in the dtype of the first layer's
// scores and reused by every layer. Rows with no visible key (padding queries) stay finite, so
// they give a harmless uniform average instead of NaN.
struct AttnMask {
  torch::Tensor blocked;  // (B or 1, 1, T, S) bool, or undefined when nothing is masked
  int64_t kv_heads = 1, group = 1;
  torch::Tensor bias;
  // The same mask as the fused attention takes it (built instead of `blocked` when fused).
  bool fused = false;  // fused linear layers and attention (fp32 or bf16 training, no autocast)
  bool causal = false;
  torch::Tensor key_mask, segments;  // (B, S) int64 or undefined
  // Supplies the cached causal-only bias (1, G*T, S) when `blocked` is exactly the causal mask.
  std::function<torch::Tensor(torch::ScalarType)> causal_only;

  const torch::Tensor& get(torch::ScalarType dtype) {
    if (!blocked.defined()) return bias;  // undefined
    if (causal_only && (!bias.defined() || bias.scalar_type() != dtype)) bias = causal_only(dtype);
    if (!bias.defined() || bias.scalar_type() != dtype) {
      const double neg = dtype == torch::kHalf ? -30000.0 : -1e30;
      const int64_t B = blocked.size(0), T = blocked.size(2), S = blocked.size(3);
      auto b = torch::zeros(blocked.sizes(), blocked.options().dtype(dtype)).masked_fill_(blocked, neg);
      if (B == 1)  // causal only: one (1, G*T, S) bias that baddbmm broadcasts over the batch
        bias = b.expand({1, group, T, S}).reshape({1, group * T, S});
      else
        bias = b.unsqueeze(1).expand({B, kv_heads, group, T, S}).reshape({B * kv_heads, group * T, S});
    }
    return bias;
  }
};

}  // namespace detail

TransformerImpl::TransformerImpl(const ModelConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const int64_t C = cfg_.d_model, V = cfg_.vocab_size;
  const bool gpt2 = cfg_.arch == "gpt2";
  wte_ = new_param(*this, "wte", torch::randn({V, C}) * 0.02);
  if (gpt2) wpe_ = new_param(*this, "wpe", torch::randn({cfg_.max_seq, C}) * 0.01);
  for (int64_t i = 0; i < cfg_.n_layer; ++i)
    blocks_.push_back(register_module("h" + std::to_string(i), detail::Block(cfg_)));
  normf_w_ = new_param(*this, "normf_w", torch::ones({C}));
  if (gpt2) normf_b_ = new_param(*this, "normf_b", torch::zeros({C}));
  if (!cfg_.tie_embeddings) head_w_ = new_param(*this, "head_w", torch::randn({V, C}) * 0.02);
}

void TransformerImpl::ensure_rope(int64_t n, torch::Device device) {
  if (rope_cos_.defined() && rope_cos_.size(0) >= n && rope_cos_.device() == device) return;
  n = std::max(n, cfg_.max_seq);
  const int64_t D = cfg_.head_dim();
  // HF LlamaRotaryEmbedding: inv_freq = 1 / theta^(2i/D), angles = pos * inv_freq, in float32.
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
  auto inv_freq = 1.0 / torch::pow(torch::tensor(cfg_.rope_theta, opts),
                                   torch::arange(0, D, 2, opts.dtype(torch::kLong)).to(torch::kFloat) / D);
  auto angles = torch::outer(torch::arange(n, opts), inv_freq);  // (n, D/2)
  rope_cos_ = angles.cos();
  rope_sin_ = angles.sin();
}

torch::Tensor TransformerImpl::norm(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const {
  if (cfg_.arch == "gpt2") return at::layer_norm(x, {cfg_.d_model}, w, b, cfg_.norm_eps);
  // RMSNorm as HF computes it: statistics in float32, scaled in the input dtype.
  auto xf = x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
  auto r = xf.pow(2).mean(-1, true).add_(cfg_.norm_eps).rsqrt_();
  auto y = xf * r;
  if (y.scalar_type() != x.scalar_type()) y = y.to(x.scalar_type());
  return y * w;
}

// x (B, T, h, D) -> rotated by HF's rotate_half convention: pairs (i, i + D/2) share angle i.
// cos/sin: (B, T, 1, D/2).
static torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

// q (B, T, H, D), k and v (B, T, Hkv, D) out of one projection (B, T, H + 2 Hkv, D); q and k rotated
// when RoPE tables are given.
static std::array<torch::Tensor, 3> split_heads(const torch::Tensor& qkv, int64_t H, int64_t Hkv,
                                                const torch::Tensor& cos, const torch::Tensor& sin) {
  auto v = qkv.narrow(2, H + Hkv, Hkv);
  if (!cos.defined()) return {qkv.narrow(2, 0, H), qkv.narrow(2, H, Hkv), v};
  auto qk = apply_rope(qkv.narrow(2, 0, H + Hkv), cos.to(qkv.scalar_type()), sin.to(qkv.scalar_type()));
  return {qk.narrow(2, 0, H), qk.narrow(2, H, Hkv), v};
}

torch::Tensor TransformerImpl::attention(const detail::BlockImpl& blk, int64_t layer, const torch::Tensor& h,
                                         detail::AttnMask& mask, const torch::Tensor& cos,
                                         const torch::Tensor& sin, KVCache* cache) const {
  const int64_t B = h.size(0), T = h.size(1), H = cfg_.n_head, Hkv = cfg_.kv_heads(), D = cfg_.head_dim();
  const int64_t G = H / Hkv;
  auto qkv = linear(h, blk.qkv_w, blk.qkv_b, mask.fused).view({B, T, H + 2 * Hkv, D});
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  // (mask.fused implies no cache: see use_train_ops.)
  if (mask.fused) return linear(fused_heads(qkv, mask, cos, sin, T, {}), blk.out_w, blk.out_b, true);
  auto [q, k, v] = split_heads(qkv, H, Hkv, cos, sin);
  q = q.transpose(1, 2);  // (B, H, T, D)
  k = k.transpose(1, 2);  // (B, Hkv, T, D)
  v = v.transpose(1, 2);
  torch::Tensor keys = k, values = v;
  int64_t S = T;
  if (cache) {
    // Write the new keys/values into the preallocated cache; attend over [0, P + T).
    const int64_t P = cache->len;
    S = P + T;
    cache->k[layer].narrow(2, P, T).copy_(k);
    cache->v[layer].narrow(2, P, T).copy_(v);
    keys = cache->k[layer].narrow(2, 0, S);
    values = cache->v[layer].narrow(2, 0, S);
    if (keys.scalar_type() != q.scalar_type()) {
      keys = keys.to(q.scalar_type());
      values = values.to(q.scalar_type());
    }
  }
  // Query heads of one kv group are stacked along the rows, so no kv head is ever repeated.
  auto q3 = q.reshape({B * Hkv, G * T, D});
  auto k3 = keys.reshape({B * Hkv, S, D});
  auto v3 = values.reshape({B * Hkv, S, D});
  const auto& bias = mask.get(q3.scalar_type());
  torch::Tensor scores;  // (B*Hkv, G*T, S)
  if (bias.defined())
    scores = at::baddbmm(bias, q3, k3.transpose(1, 2), 1.0, scale);
  else
    scores = at::bmm(q3, k3.transpose(1, 2)).mul_(scale);
  auto att = at::softmax(scores, -1);
  if (att.scalar_type() != v3.scalar_type()) att = att.to(v3.scalar_type());
  auto out = at::bmm(att, v3).view({B, H, T, D}).transpose(1, 2).reshape({B, T, H * D});
  return at::linear(out, blk.out_w, blk.out_b);
}

torch::Tensor TransformerImpl::mlp(const detail::BlockImpl& blk, const torch::Tensor& h) const {
  const bool fused = use_train_ops(h, false);
  if (fused && bf16_training() && cfg_.arch == "gpt2")  // the whole MLP as one bf16 Function
    return kernels::train_mlp_gelu_bf16(h, blk.up_w, blk.up_b, blk.down_w, blk.down_b);
  auto up = linear(h, blk.up_w, blk.up_b, fused);
  torch::Tensor act;
  if (cfg_.arch == "gpt2") {
    act = fused ? kernels::train_gelu(up) : at::gelu(up, "tanh");
  } else {
    const int64_t F = cfg_.ff_dim();
    auto gate = up.narrow(-1, 0, F), val = up.narrow(-1, F, F);
    act = at::silu(gate);
    if (inplace_ok())
      act.mul_(val);
    else
      act = act * val;
  }
  return linear(act, blk.down_w, blk.down_b, fused);
}

torch::Tensor TransformerImpl::hidden(const torch::Tensor& tokens, const ForwardArgs& args) {
  if (tokens.dim() != 2) throw Error("Transformer: tokens must be (B, T) int64");
  const int64_t B = tokens.size(0), T = tokens.size(1);
  KVCache* cache = args.cache;
  const int64_t P = cache ? cache->len : 0, S = P + T;
  const auto dev = wte_.device();
  if (cache) {
    if (S > cache->capacity)
      throw Error("KV cache overflow: " + std::to_string(P) + " cached + " + std::to_string(T) + " new tokens > capacity " +
                  std::to_string(cache->capacity) + " (allocate a larger cache)");
    if (static_cast<int64_t>(cache->k.size()) != cfg_.n_layer || cache->k[0].size(0) != B)
      throw Error("KV cache shape mismatch: allocated for " + std::to_string(cache->k.empty() ? 0 : cache->k[0].size(0)) +
                  " rows and " + std::to_string(cache->k.size()) + " layers, called with " + std::to_string(B) +
                  " rows on a " + std::to_string(cfg_.n_layer) + "-layer model");
  }
  if (cfg_.arch == "gpt2" && S > cfg_.max_seq && !args.position_ids.defined())
    throw Error("sequence length " + std::to_string(S) + " exceeds the model's n_positions " + std::to_string(cfg_.max_seq));

  const torch::Tensor pos = positions(args, B, T, P, dev);

  if (args.segment_ids.defined()) {
    if (cache) throw Error("segment_ids (packed sequences) cannot be combined with a KV cache");
    if (args.segment_ids.dim() != 2 || args.segment_ids.size(0) != B || args.segment_ids.size(1) != T)
      throw Error("segment_ids must be (B, T) = (" + std::to_string(B) + ", " + std::to_string(T) + ")");
  }
  if (args.keep_last < 0 || args.keep_last > T)
    throw Error("keep_last " + std::to_string(args.keep_last) + " outside [0, " + std::to_string(T) +
                "] (the number of new positions)");
  torch::Tensor keep_index;
  if (args.keep_index.defined()) {
    if (args.keep_last > 0 || cache || args.segment_ids.defined())
      throw Error("keep_index cannot be combined with keep_last, a KV cache or segment_ids");
    keep_index = args.keep_index.to(torch::kLong).reshape({-1});
    if (keep_index.size(0) != B)
      throw Error("keep_index must hold one position per row (" + std::to_string(B) + "), got " +
                  std::to_string(keep_index.size(0)));
    if (B > 0 && (keep_index.min().item<int64_t>() < 0 || keep_index.max().item<int64_t>() >= T))
      throw Error("keep_index has a position outside [0, " + std::to_string(T) + ")");
  }
  if (args.attention_mask.defined()) {
    const auto& am = args.attention_mask;
    if (am.dim() != 2 || am.size(0) != B || am.size(1) != S)
      throw Error("attention_mask must be (B, S) = (" + std::to_string(B) + ", " + std::to_string(S) +
                  ") covering cached and new positions");
  }

  LiftAutocastForTrainOps lift(wte_, cache == nullptr);
  auto x = at::embedding(wte_, tokens);  // (B, T, C)

  // Causal + key-padding + packed-segment mask, (B, 1, T, S); skipped entirely for a single
  // unpadded step. The fused training attention takes the pieces and builds no tensor.
  detail::AttnMask mask;
  mask.kv_heads = cfg_.kv_heads();
  mask.group = cfg_.n_head / cfg_.kv_heads();
  mask.fused = use_train_ops(x, cache != nullptr);
  if (mask.fused) {
    mask.causal = T > 1;
    if (args.attention_mask.defined()) mask.key_mask = args.attention_mask;
    if (args.segment_ids.defined()) mask.segments = args.segment_ids;
  } else {
    if (T > 1) {
      auto qi = torch::arange(P, S, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(1);
      auto kj = torch::arange(S, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0);
      mask.blocked = (kj > qi).view({1, 1, T, S});
      if (P == 0 && !args.attention_mask.defined() && !args.segment_ids.defined())
        mask.causal_only = [this, T, dev](torch::ScalarType dt) { return causal_bias(T, dt, dev); };
    }
    if (args.attention_mask.defined()) {
      auto pad = (args.attention_mask == 0).view({B, 1, 1, S});
      mask.blocked = mask.blocked.defined() ? (mask.blocked | pad) : pad;  // (B, 1, T, S)
    }
    if (args.segment_ids.defined()) {
      const auto& sg = args.segment_ids;
      auto other = sg.view({B, 1, T, 1}) != sg.view({B, 1, 1, T});
      mask.blocked = mask.blocked.defined() ? (mask.blocked | other) : other;
    }
  }
  torch::Tensor cos, sin;
  if (cfg_.arch == "gpt2") {
    x = x + at::embedding(wpe_, pos);
  } else {
    ensure_rope(S, dev);
    auto flat = pos.reshape({-1});
    cos = rope_cos_.index_select(0, flat).view({B, T, 1, -1});
    sin = rope_sin_.index_select(0, flat).view({B, T, 1, -1});
  }
  const int64_t keep = keep_index.defined() ? 1 : args.keep_last > 0 ? args.keep_last : T;
  const bool select = keep_index.defined() || keep < T;
  // The kept rows of a (B, T, C) tensor: (B, 1, C) at keep_index, or the last `keep`.
  auto kept = [&](const torch::Tensor& t) {
    return keep_index.defined() ? t.gather(1, keep_index.view({B, 1, 1}).expand({B, 1, t.size(2)}))
                                : t.narrow(1, T - keep, keep);
  };
  // The last layer on the kept rows only: fused operators, no cache (the attention takes queries
  // that end the sequence, offset by the causal mask, or one query per row). Otherwise the rows
  // are selected after the last layer.
  const bool trim_last = select && mask.fused && !cache;
  for (int64_t l = 0; l < cfg_.n_layer; ++l) {
    const auto& blk = *blocks_[l];
    const bool tail = trim_last && l == cfg_.n_layer - 1;
    auto a = tail ? attention_tail(blk, norm(x, blk.norm1_w, blk.norm1_b), mask, cos, sin, keep, keep_index)
                  : attention(blk, l, norm(x, blk.norm1_w, blk.norm1_b), mask, cos, sin, cache);
    if (tail)
      x = kept(x) + a;
    else if (inplace_ok())
      x.add_(a);
    else
      x = x + a;
    auto m = mlp(blk, norm(x, blk.norm2_w, blk.norm2_b));
    if (inplace_ok())
      x.add_(m);
    else
      x = x + m;
  }
  if (cache) cache->len = S;
  if (select && !trim_last) x = kept(x);
  return norm(x, normf_w_, normf_b_);
}

torch::Tensor TransformerImpl::attention_tail(const detail::BlockImpl& blk, const torch::Tensor& h,
                                              detail::AttnMask& mask, const torch::Tensor& cos,
                                              const torch::Tensor& sin, int64_t keep,
                                              const torch::Tensor& index) const {
  const int64_t B = h.size(0), T = h.size(1), H = cfg_.n_head, Hkv = cfg_.kv_heads(), D = cfg_.head_dim();
  auto qkv = linear(h, blk.qkv_w, blk.qkv_b, true).view({B, T, H + 2 * Hkv, D});
  return linear(fused_heads(qkv, mask, cos, sin, keep, index), blk.out_w, blk.out_b, true);
}

torch::Tensor TransformerImpl::fused_heads(const torch::Tensor& qkv, const detail::AttnMask& mask,
                                           const torch::Tensor& cos, const torch::Tensor& sin, int64_t keep,
                                           const torch::Tensor& index) const {
  const int64_t B = qkv.size(0), T = qkv.size(1), H = cfg_.n_head, Hkv = cfg_.kv_heads(), D = cfg_.head_dim();
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  torch::Tensor o;
  if (!index.defined() && keep == T && !cos.defined()) {
    // Heads read straight out of the projection; its gradient comes back as one tensor.
    o = kernels::train_attention_qkv(qkv, H, Hkv, mask.causal, mask.key_mask, mask.segments, scale);
    return o.transpose(1, 2).reshape({B, T, H * D});
  }
  auto [q, k, v] = split_heads(qkv, H, Hkv, cos, sin);
  if (index.defined()) {
    // One query per row at index[b]: keys up to it (and not padding), i.e. its causal view.
    q = q.gather(1, index.view({B, 1, 1, 1}).expand({B, 1, H, D})).transpose(1, 2);  // (B, H, 1, D)
    auto visible = torch::arange(T, index.options()).unsqueeze(0) <= index.unsqueeze(1);  // (B, T)
    if (mask.key_mask.defined()) visible = visible & (mask.key_mask != 0);
    o = kernels::train_attention(q, k.transpose(1, 2), v.transpose(1, 2), false, visible.to(torch::kLong), {}, scale);
  } else {
    q = q.narrow(1, T - keep, keep).transpose(1, 2);  // (B, H, keep, D): the last rows' queries
    o = kernels::train_attention(q, k.transpose(1, 2), v.transpose(1, 2), mask.causal, mask.key_mask, mask.segments,
                                 scale);
  }
  return o.transpose(1, 2).reshape({B, keep, H * D});
}

bool TransformerImpl::can_replay() const {
  return cfg_.arch == "gpt2" && wte_.scalar_type() == torch::kFloat && wte_.device().is_cpu() &&
         kernels::train_ops_enabled();
}

namespace {
// A linear layer (plus residual) whose output is known (see TransformerImpl::hidden_replay).
torch::Tensor linear_replay(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                            const torch::Tensor& residual, const torch::Tensor& out) {
  return bf16_training() ? kernels::train_linear_bf16_replay(x, w, b, residual, out)
                         : kernels::train_linear_replay(x, w, b, residual, out);
}
}  // namespace

torch::Tensor TransformerImpl::hidden_replay(const torch::Tensor& tokens, const ForwardArgs& args, const Replay& act) {
  if (tokens.dim() != 2) throw Error("Transformer::hidden_replay: tokens must be (B, T) int64");
  if (cfg_.arch != "gpt2") throw Error("Transformer::hidden_replay: the gpt2 layout only, not \"" + cfg_.arch + "\"");
  if (args.cache || args.segment_ids.defined() || args.keep_index.defined())
    throw Error("Transformer::hidden_replay: no KV cache, segment_ids or keep_index");
  const int64_t B = tokens.size(0), T = tokens.size(1), L = cfg_.n_layer;
  const int64_t C = cfg_.d_model, H = cfg_.n_head, Hkv = cfg_.kv_heads(), D = cfg_.head_dim(), F = cfg_.ff_dim();
  for (const auto* v : act.all())
    if (static_cast<int64_t>(v->size()) != L)
      throw Error("Transformer::hidden_replay: recorded activations for " + std::to_string(v->size()) +
                  " layers, the model has " + std::to_string(L));
  auto check = [&](const torch::Tensor& t, int64_t width, const char* what, int64_t l) {
    if (!t.defined() || t.dim() != 3 || t.size(0) != B || t.size(1) != T || t.size(2) != width ||
        t.scalar_type() != torch::kFloat)
      throw Error(std::string("Transformer::hidden_replay: layer ") + std::to_string(l) + " " + what +
                  " must be float (" + std::to_string(B) + ", " + std::to_string(T) + ", " + std::to_string(width) + ")");
  };
  for (int64_t l = 0; l < L; ++l) {
    check(act.qkv[l], (H + 2 * Hkv) * D, "qkv", l);
    check(act.x_mid[l], C, "x_mid", l);
    check(act.up[l], F, "up", l);
    check(act.x_out[l], C, "x_out", l);
  }
  if (args.keep_last < 0 || args.keep_last > T)
    throw Error("keep_last " + std::to_string(args.keep_last) + " outside [0, " + std::to_string(T) + "]");
  LiftAutocastForTrainOps lift(wte_, true);
  if (!can_replay() || at::autocast::is_cpu_enabled())
    throw Error("Transformer::hidden_replay: needs the fused training operators (fp32 CPU weights, no autocast "
                "outside bf16 training)");
  const torch::Tensor pos = positions(args, B, T, 0, wte_.device());
  detail::AttnMask mask;  // as hidden() builds it for the fused operators
  mask.fused = true;
  mask.causal = T > 1;
  if (args.attention_mask.defined()) {
    if (args.attention_mask.dim() != 2 || args.attention_mask.size(0) != B || args.attention_mask.size(1) != T)
      throw Error("attention_mask must be (B, T) = (" + std::to_string(B) + ", " + std::to_string(T) + ")");
    mask.key_mask = args.attention_mask;
  }
  const int64_t keep = args.keep_last > 0 ? args.keep_last : T;
  auto x = at::embedding(wte_, tokens) + at::embedding(wpe_, pos);  // (B, T, C)
  for (int64_t l = 0; l < L; ++l) {
    const auto& blk = *blocks_[l];
    const bool tail = l == L - 1 && keep < T;  // the last layer on the kept rows only
    auto kept = [&](const torch::Tensor& t) { return tail ? t.narrow(1, T - keep, keep).contiguous() : t; };
    auto qkv = linear_replay(norm(x, blk.norm1_w, blk.norm1_b), blk.qkv_w, blk.qkv_b, {}, act.qkv[l])
                   .view({B, T, H + 2 * Hkv, D});
    auto o = fused_heads(qkv, mask, {}, {}, tail ? keep : T, {});
    if (tail) x = x.narrow(1, T - keep, keep);
    x = linear_replay(o, blk.out_w, blk.out_b, x, kept(act.x_mid[l]));
    auto h2 = norm(x, blk.norm2_w, blk.norm2_b);
    if (bf16_training()) {
      x = kernels::train_mlp_gelu_bf16_replay(h2, blk.up_w, blk.up_b, blk.down_w, blk.down_b, x, kept(act.up[l]),
                                              kept(act.x_out[l]));
    } else {
      auto a = kernels::train_gelu(linear_replay(h2, blk.up_w, blk.up_b, {}, kept(act.up[l])));
      x = linear_replay(a, blk.down_w, blk.down_b, x, kept(act.x_out[l]));
    }
  }
  return norm(x, normf_w_, normf_b_);
}

torch::Tensor TransformerImpl::lm_head_replay(const torch::Tensor& hidden, const torch::Tensor& logits) {
  LiftAutocastForTrainOps lift(hidden, true);
  return linear_replay(hidden, cfg_.tie_embeddings ? wte_ : head_w_, {}, {}, logits);
}

torch::Tensor TransformerImpl::lm_head(const torch::Tensor& hidden) {
  LiftAutocastForTrainOps lift(hidden, true);
  return linear(hidden, cfg_.tie_embeddings ? wte_ : head_w_, {}, use_train_ops(hidden, false));
}

torch::Tensor TransformerImpl::causal_bias(int64_t T, torch::ScalarType dtype, torch::Device device) {
  const int64_t G = cfg_.n_head / cfg_.kv_heads();
  auto& c = causal_bias_;
  if (!c.defined() || c.scalar_type() != dtype || c.device() != device || c.size(1) != G * T) {
    const double neg = dtype == torch::kHalf ? -30000.0 : -1e30;
    auto opts = torch::TensorOptions().dtype(dtype).device(device);
    auto b = torch::ones({T, T}, opts.dtype(torch::kBool)).triu(1);
    auto bias = torch::zeros({T, T}, opts).masked_fill_(b, neg);
    c = bias.unsqueeze(0).expand({G, T, T}).reshape({1, G * T, T});
  }
  return c;
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& tokens, const ForwardArgs& args) {
  return lm_head(hidden(tokens, args));
}

std::vector<TransformerImpl::HfSlot> TransformerImpl::hf_slots() const {
  std::vector<HfSlot> s;
  const int64_t H = cfg_.n_head, Hkv = cfg_.kv_heads(), D = cfg_.head_dim(), F = cfg_.ff_dim();
  if (cfg_.arch == "gpt2") {
    // HF GPT-2 uses Conv1D: weights stored (in, out), the transpose of ours.
    s.push_back({"transformer.wte.weight", wte_});
    s.push_back({"transformer.wpe.weight", wpe_});
    for (int64_t i = 0; i < cfg_.n_layer; ++i) {
      const auto& b = *blocks_[i];
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      s.push_back({p + "ln_1.weight", b.norm1_w});
      s.push_back({p + "ln_1.bias", b.norm1_b});
      s.push_back({p + "attn.c_attn.weight", b.qkv_w.t()});
      s.push_back({p + "attn.c_attn.bias", b.qkv_b});
      s.push_back({p + "attn.c_proj.weight", b.out_w.t()});
      s.push_back({p + "attn.c_proj.bias", b.out_b});
      s.push_back({p + "ln_2.weight", b.norm2_w});
      s.push_back({p + "ln_2.bias", b.norm2_b});
      s.push_back({p + "mlp.c_fc.weight", b.up_w.t()});
      s.push_back({p + "mlp.c_fc.bias", b.up_b});
      s.push_back({p + "mlp.c_proj.weight", b.down_w.t()});
      s.push_back({p + "mlp.c_proj.bias", b.down_b});
    }
    s.push_back({"transformer.ln_f.weight", normf_w_});
    s.push_back({"transformer.ln_f.bias", normf_b_});
  } else {
    s.push_back({"model.embed_tokens.weight", wte_});
    for (int64_t i = 0; i < cfg_.n_layer; ++i) {
      const auto& b = *blocks_[i];
      const std::string p = "model.layers." + std::to_string(i) + ".";
      s.push_back({p + "input_layernorm.weight", b.norm1_w});
      s.push_back({p + "self_attn.q_proj.weight", b.qkv_w.narrow(0, 0, H * D)});
      s.push_back({p + "self_attn.k_proj.weight", b.qkv_w.narrow(0, H * D, Hkv * D)});
      s.push_back({p + "self_attn.v_proj.weight", b.qkv_w.narrow(0, (H + Hkv) * D, Hkv * D)});
      s.push_back({p + "self_attn.o_proj.weight", b.out_w});
      s.push_back({p + "post_attention_layernorm.weight", b.norm2_w});
      s.push_back({p + "mlp.gate_proj.weight", b.up_w.narrow(0, 0, F)});
      s.push_back({p + "mlp.up_proj.weight", b.up_w.narrow(0, F, F)});
      s.push_back({p + "mlp.down_proj.weight", b.down_w});
      if (cfg_.bias) {
        s.push_back({p + "self_attn.q_proj.bias", b.qkv_b.narrow(0, 0, H * D)});
        s.push_back({p + "self_attn.k_proj.bias", b.qkv_b.narrow(0, H * D, Hkv * D)});
        s.push_back({p + "self_attn.v_proj.bias", b.qkv_b.narrow(0, (H + Hkv) * D, Hkv * D)});
        s.push_back({p + "self_attn.o_proj.bias", b.out_b});
        s.push_back({p + "mlp.gate_proj.bias", b.up_b.narrow(0, 0, F)});
        s.push_back({p + "mlp.up_proj.bias", b.up_b.narrow(0, F, F)});
        s.push_back({p + "mlp.down_proj.bias", b.down_b});
      }
    }
    s.push_back({"model.norm.weight", normf_w_});
  }
  if (!cfg_.tie_embeddings) s.push_back({"lm_head.weight", head_w_});
  return s;
}

std::vector<std::pair<std::string, torch::Tensor>> TransformerImpl::hf_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& s : hf_slots()) out.emplace_back(s.name, s.view);
  return out;
}

// Names found in the wild that carry no weights of ours: GPT-2's causal-mask buffers, Llama's
// stored rotary frequencies, and a duplicate LM head in tied checkpoints.
static bool ignorable_name(const std::string& n, bool tied) {
  auto ends = [&](const std::string& suf) {
    return n.size() >= suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
  };
  return ends(".attn.bias") || ends(".attn.masked_bias") || ends("rotary_emb.inv_freq") ||
         (tied && n == "lm_head.weight");
}

void TransformerImpl::load_hf_state(const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                                    const std::string& where) {
  const bool gpt2 = cfg_.arch == "gpt2";
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, t] : tensors) {
    std::string n = name;
    // Some GPT-2 checkpoints (the original OpenAI conversion) omit the "transformer." prefix.
    if (gpt2 && n.rfind("transformer.", 0) != 0 && n != "lm_head.weight") n = "transformer." + n;
    by_name[n] = &t;
  }
  torch::NoGradGuard no_grad;
  auto slots = hf_slots();
  std::map<std::string, bool> used;
  for (auto& s : slots) {
    auto it = by_name.find(s.name);
    if (it == by_name.end())
      throw Error(where + ": missing tensor \"" + s.name + "\" (expected shape " + c10::str(s.view.sizes()) + ")");
    const torch::Tensor& src = *it->second;
    if (src.sizes() != s.view.sizes())
      throw Error(where + ": tensor \"" + s.name + "\" has shape " + c10::str(src.sizes()) + ", expected " +
                  c10::str(s.view.sizes()) + " for this config.json");
    s.view.copy_(src);
    used[s.name] = true;
  }
  for (const auto& [n, t] : by_name)
    if (!used.count(n) && !ignorable_name(n, cfg_.tie_embeddings))
      throw Error(where + ": unexpected tensor \"" + n + "\" for a " + cfg_.arch + " model with this config.json");
}

KVCache KVCache::allocate(const ModelConfig& cfg, int64_t batch, int64_t capacity, torch::Dtype dtype,
                          torch::Device device) {
  KVCache c;
  c.capacity = capacity;
  auto opts = torch::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    c.k.push_back(torch::empty({batch, cfg.kv_heads(), capacity, cfg.head_dim()}, opts));
    c.v.push_back(torch::empty({batch, cfg.kv_heads(), capacity, cfg.head_dim()}, opts));
  }
  return c;
}

void KVCache::select_rows(const torch::Tensor& rows) {
  for (auto& t : k) t = t.index_select(0, rows);
  for (auto& t : v) t = t.index_select(0, rows);
}

Transformer clone_transformer(const Transformer& m) {
  Transformer c(m->config());
  torch::NoGradGuard no_grad;
  auto src = m->named_parameters(true);
  const auto& first = *src.begin();
  c->to(first.value().device(), first.value().scalar_type());
  auto dst = c->named_parameters(true);
  for (const auto& p : src) dst[p.key()].copy_(p.value());
  c->train(m->is_training());
  return c;
}

ScalarHeadImpl::ScalarHeadImpl(int64_t d_model) {
  proj = register_module("proj", torch::nn::Linear(d_model, 1));
}

torch::Tensor ScalarHeadImpl::forward(const torch::Tensor& hidden) { return proj(hidden).squeeze(-1); }

}  // namespace rlhf
