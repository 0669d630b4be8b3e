// The fast CPU decode path (see decode_engine.h): weights are read from the model's Hugging Face
// state (hf_state), packed into 16-column panels, and every step runs norms, packed matmuls,
// RoPE, attention over the per-slot KV cache and the LM head on preallocated buffers.
#include "rlhf/generation/decode_engine.h"

#include <ATen/record_function.h>

#include <cmath>
#include <map>

#include "kernels/gemm.h"
#include "kernels/thread_pool.h"
#include "kernels/vec.h"
#include "rlhf/io/error.h"

namespace rlhf {

namespace kn = rlhf::kernels;

namespace {
using StateMap = std::map<std::string, torch::Tensor>;

// A (rows, cols) float copy of a named tensor; empty vector when absent and optional.
std::vector<float> fetch(const StateMap& s, const std::string& name, bool required = true) {
  auto it = s.find(name);
  if (it == s.end() || !it->second.defined()) {
    if (required) throw Error("decode engine: model state has no tensor \"" + name + "\"");
    return {};
  }
  torch::Tensor t = it->second.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

// A float CPU tensor of the state (the view itself when it already is one: no copy).
torch::Tensor fetch_view(const StateMap& s, const std::string& name) {
  auto it = s.find(name);
  if (it == s.end() || !it->second.defined()) throw Error("decode engine: model state has no tensor \"" + name + "\"");
  return it->second.detach().to(torch::kCPU, torch::kFloat);
}

// Packs a (K, N) view with its strides (HF Conv1D views are transposes of (out, in) weights).
kn::PackedMatrix pack_view(const torch::Tensor& w, const std::vector<float>& bias, bool bf16, kn::ThreadPool* pool) {
  return kn::pack_matrix(w.data_ptr<float>(), w.size(0), w.size(1), w.stride(0), w.stride(1),
                         bias.empty() ? nullptr : bias.data(), bf16, pool);
}

struct Layer {
  std::vector<float> norm1_w, norm1_b, norm2_w, norm2_b;  // (C); biases empty for RMSNorm
  kn::PackedMatrix qkv;   // (C, (H + 2 Hkv) D): q | k | v
  kn::PackedMatrix proj;  // (H D, C)
  kn::PackedMatrix up;    // gpt2: c_fc (C, F); llama: gate | up (C, 2F)
  kn::PackedMatrix down;  // (F, C)
};
}  // namespace

struct DecodeEngine::Impl {
  ModelConfig cfg;
  bool llama = false;
  int64_t C = 0, V = 0, H = 0, Hkv = 0, D = 0, F = 0, QKV = 0;
  std::vector<float> wte, wpe;      // (V, C) embedding rows; (max_seq, C) learned positions (gpt2)
  std::vector<Layer> layers;
  std::vector<float> normf_w, normf_b;
  kn::PackedMatrix head;            // (C, V)
  std::vector<float> rope_cos, rope_sin;  // (max_seq, D/2) (llama)
  std::unique_ptr<kn::ThreadPool> pool;

  // KV cache: per layer, slot, kv head: (capacity, D) floats.
  int64_t slots = 0, capacity = 0;
  std::vector<int64_t> lens;
  bool kv_bf16 = false;                  // bf16 engines keep K/V in bf16 too (as a bf16 model does)
  std::vector<float, HugeAlloc<float>> kcache, vcache;
  std::vector<uint16_t, HugeAlloc<uint16_t>> kcache16, vcache16;

  // Per-call buffers (grow only). M = tokens in this call, S = segments.
  std::vector<int64_t> ent_slot, ent_pos, seg_last;
  // Activation recording (set_recording): per entry, its part (-1 = none) and cell row*cols+col.
  DecodeRecording* rec = nullptr;
  std::vector<int64_t> rec_part, rec_cell;
  std::vector<float> x, h, qkv, att, ff, last, logits;

  // Offset of (layer, slot, kv head)'s (capacity, D) block in the cache.
  int64_t kv_off(int64_t layer, int64_t slot, int64_t kvh) const {
    return (((layer * slots + slot) * Hkv + kvh) * capacity) * D;
  }

  void load(const Transformer& model, bool bf16);
  void norm(const std::vector<float>& w, const std::vector<float>& b, const float* in, float* out, int64_t rows);
  void rope(float* vec, int64_t heads, int64_t pos);
  void attention(int64_t layer, int64_t M);
  const float* run(const std::vector<int64_t>& tokens);
  void record_entries(int64_t M);
  // Copies each recorded entry's `width` floats (row e of src, leading dimension ld) into the
  // tensor `pick(part)` at the entry's cell.
  template <class Pick>
  void record(int64_t M, const float* src, int64_t ld, int64_t width, Pick pick);
};

void DecodeEngine::Impl::record_entries(int64_t M) {
  if (!rec) return;  // record() and the logits copy read rec_part only when recording
  rec_part.assign(M, -1);
  rec_cell.assign(M, 0);
  for (int64_t e = 0; e < M; ++e) {
    const int64_t s = ent_slot[e];
    if (s >= static_cast<int64_t>(rec->part.size()) || rec->part[s] < 0) continue;
    const auto& p = rec->parts.at(rec->part[s]);
    const int64_t col = rec->col0[s] + ent_pos[e];
    if (col < 0 || col >= p.cols || rec->row[s] < 0 || rec->row[s] >= p.rows)
      throw Error("decode engine: recording has no cell for slot " + std::to_string(s) + " position " +
                  std::to_string(ent_pos[e]) + " (part of " + std::to_string(p.rows) + " x " + std::to_string(p.cols) +
                  ")");
    rec_part[e] = rec->part[s];
    rec_cell[e] = rec->row[s] * p.cols + col;
    rec->written[s] = std::max(rec->written[s], ent_pos[e] + 1);
  }
}

template <class Pick>
void DecodeEngine::Impl::record(int64_t M, const float* src, int64_t ld, int64_t width, Pick pick) {
  if (!rec) return;
  auto body = [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      if (rec_part[e] < 0) continue;
      float* dst = pick(rec->parts[rec_part[e]]).template data_ptr<float>() + rec_cell[e] * width;
      std::copy(src + e * ld, src + e * ld + width, dst);
    }
  };
  if (M >= 64)
    pool->run(M, body);
  else
    body(0, M);
}

void DecodeEngine::Impl::load(const Transformer& model, bool bf16) {
  RECORD_FUNCTION("decode::pack_weights", std::vector<c10::IValue>());
  cfg = model->config();
  llama = cfg.arch == "llama";
  C = cfg.d_model;
  V = cfg.vocab_size;
  H = cfg.n_head;
  Hkv = cfg.kv_heads();
  D = cfg.head_dim();
  F = cfg.ff_dim();
  QKV = (H + 2 * Hkv) * D;
  StateMap s;
  for (auto& kv : model->hf_state()) s[kv.first] = kv.second;
  const std::string emb = llama ? "model.embed_tokens.weight" : "transformer.wte.weight";
  wte = fetch(s, emb);
  if (!llama) wpe = fetch(s, "transformer.wpe.weight");
  layers.resize(cfg.n_layer);
  for (int64_t i = 0; i < cfg.n_layer; ++i) {
    Layer& L = layers[i];
    if (llama) {
      const std::string p = "model.layers." + std::to_string(i) + ".";
      L.norm1_w = fetch(s, p + "input_layernorm.weight");
      L.norm2_w = fetch(s, p + "post_attention_layernorm.weight");
      // q | k | v stacked along the output dimension of torch's (out, in) layout.
      std::vector<float> w, b;
      bool has_bias = s.count(p + "self_attn.q_proj.bias") > 0;
      for (const char* n : {"q_proj", "k_proj", "v_proj"}) {
        auto part = fetch(s, p + "self_attn." + n + ".weight");
        w.insert(w.end(), part.begin(), part.end());
        if (has_bias) {
          auto pb = fetch(s, p + "self_attn." + n + ".bias");
          b.insert(b.end(), pb.begin(), pb.end());
        }
      }
      L.qkv = kn::pack_matrix(w.data(), C, QKV, 1, C, has_bias ? b.data() : nullptr, bf16, pool.get());
      auto ob = fetch(s, p + "self_attn.o_proj.bias", false);
      L.proj = pack_view(fetch_view(s, p + "self_attn.o_proj.weight").t(), ob, bf16, pool.get());
      auto g = fetch(s, p + "mlp.gate_proj.weight"), u = fetch(s, p + "mlp.up_proj.weight");
      g.insert(g.end(), u.begin(), u.end());
      auto gb = fetch(s, p + "mlp.gate_proj.bias", false), ub = fetch(s, p + "mlp.up_proj.bias", false);
      gb.insert(gb.end(), ub.begin(), ub.end());
      L.up = kn::pack_matrix(g.data(), C, 2 * F, 1, C, gb.empty() ? nullptr : gb.data(), bf16, pool.get());
      L.down = pack_view(fetch_view(s, p + "mlp.down_proj.weight").t(), fetch(s, p + "mlp.down_proj.bias", false), bf16,
                         pool.get());
    } else {
      const std::string p = "transformer.h." + std::to_string(i) + ".";
      L.norm1_w = fetch(s, p + "ln_1.weight");
      L.norm1_b = fetch(s, p + "ln_1.bias", false);
      L.norm2_w = fetch(s, p + "ln_2.weight");
      L.norm2_b = fetch(s, p + "ln_2.bias", false);
      // HF Conv1D weights are (in, out) = (K, N).
      L.qkv = pack_view(fetch_view(s, p + "attn.c_attn.weight"), fetch(s, p + "attn.c_attn.bias", false), bf16, pool.get());
      L.proj = pack_view(fetch_view(s, p + "attn.c_proj.weight"), fetch(s, p + "attn.c_proj.bias", false), bf16, pool.get());
      L.up = pack_view(fetch_view(s, p + "mlp.c_fc.weight"), fetch(s, p + "mlp.c_fc.bias", false), bf16, pool.get());
      L.down = pack_view(fetch_view(s, p + "mlp.c_proj.weight"), fetch(s, p + "mlp.c_proj.bias", false), bf16, pool.get());
    }
  }
  normf_w = fetch(s, llama ? "model.norm.weight" : "transformer.ln_f.weight");
  if (!llama) normf_b = fetch(s, "transformer.ln_f.bias", false);
  // The LM head (V, C) read as (C, V).
  head = pack_view(fetch_view(s, cfg.tie_embeddings ? emb : std::string("lm_head.weight")).t(), {}, bf16, pool.get());
  if (bf16) {
    // The embedding rows go through bf16 too, as in a bf16 model.
    for (auto& v : wte) v = static_cast<float>(c10::BFloat16(v));
    for (auto& v : wpe) v = static_cast<float>(c10::BFloat16(v));
  }
  if (llama) {
    const int64_t half = D / 2;
    rope_cos.resize(cfg.max_seq * half);
    rope_sin.resize(cfg.max_seq * half);
    for (int64_t i = 0; i < half; ++i) {
      float inv = static_cast<float>(1.0 / std::pow(cfg.rope_theta, static_cast<double>(2 * i) / D));
      for (int64_t p = 0; p < cfg.max_seq; ++p) {
        float a = static_cast<float>(p) * inv;
        rope_cos[p * half + i] = std::cos(a);
        rope_sin[p * half + i] = std::sin(a);
      }
    }
  }
}

void DecodeEngine::Impl::norm(const std::vector<float>& w, const std::vector<float>& b, const float* in, float* out,
                              int64_t rows) {
  const float eps = static_cast<float>(cfg.norm_eps);
  auto body = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (llama)
        kn::rms_norm(in + r * C, C, w.data(), eps, out + r * C);
      else
        kn::layer_norm(in + r * C, C, w.data(), b.empty() ? nullptr : b.data(), eps, out + r * C);
    }
  };
  if (rows >= 32)
    pool->run(rows, body);
  else
    body(0, rows);
}

// Rotates pairs (i, i + D/2) of each head by pos * theta^(-2i/D) (Hugging Face's rotate_half).
void DecodeEngine::Impl::rope(float* vec, int64_t heads, int64_t pos) {
  const int64_t half = D / 2;
  const float* c = rope_cos.data() + pos * half;
  const float* s = rope_sin.data() + pos * half;
  for (int64_t hh = 0; hh < heads; ++hh) {
    float* v = vec + hh * D;
    for (int64_t i = 0; i < half; ++i) {
      float a = v[i], b = v[i + half];
      v[i] = a * c[i] - b * s[i];
      v[i + half] = b * c[i] + a * s[i];
    }
  }
}

// att (M, H D) = softmax(q k^T / sqrt(D)) v per entry and head, over the slot's positions <= pos.
void DecodeEngine::Impl::attention(int64_t layer, int64_t M) {
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  const int64_t group = H / Hkv;
  pool->run(M * H, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> scores;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t e = t / H, hh = t % H, kvh = hh / group, n = ent_pos[e] + 1;
      if (static_cast<int64_t>(scores.size()) < n) scores.resize(n);
      const float* q = qkv.data() + e * QKV + hh * D;
      const int64_t off = kv_off(layer, ent_slot[e], kvh);
      float* out = att.data() + e * H * D + hh * D;
      if (kv_bf16)
        kn::attend_bf16(q, kcache16.data() + off, vcache16.data() + off, n, D, scale, out, scores.data());
      else
        kn::attend(q, kcache.data() + off, vcache.data() + off, n, D, scale, out, scores.data());
    }
  });
}

// Runs every entry (ent_slot/ent_pos filled, tokens given) through the model; the logits of the
// entries listed in seg_last come back as (S, V).
const float* DecodeEngine::Impl::run(const std::vector<int64_t>& tokens) {
  RECORD_FUNCTION(tokens.size() > 64 ? "decode::prefill" : "decode::step", std::vector<c10::IValue>());
  const int64_t M = static_cast<int64_t>(tokens.size()), S = static_cast<int64_t>(seg_last.size());
  auto grow = [](std::vector<float>& b, int64_t n) {
    if (static_cast<int64_t>(b.size()) < n) b.resize(n);
  };
  grow(x, M * C);
  grow(h, M * C);
  grow(qkv, M * QKV);
  grow(att, M * H * D);
  grow(ff, M * (llama ? 2 * F : F));
  grow(last, S * C);
  grow(logits, S * V);
  for (int64_t e = 0; e < M; ++e) {
    const int64_t tok = tokens[e], pos = ent_pos[e];
    if (tok < 0 || tok >= V) throw Error("decode engine: token id " + std::to_string(tok) + " outside the vocabulary (" + std::to_string(V) + ")");
    const float* row = wte.data() + tok * C;
    float* xe = x.data() + e * C;
    if (llama) {
      std::copy(row, row + C, xe);
    } else {
      const float* pe = wpe.data() + pos * C;
      for (int64_t c = 0; c < C; ++c) xe[c] = row[c] + pe[c];
    }
  }
  record_entries(M);
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    Layer& L = layers[l];
    norm(L.norm1_w, L.norm1_b, x.data(), h.data(), M);
    kn::matmul(h.data(), C, M, L.qkv, qkv.data(), QKV, false, *pool);
    for (int64_t e = 0; e < M; ++e) {
      float* q = qkv.data() + e * QKV;
      float* k = q + H * D;
      float* v = k + Hkv * D;
      if (llama) {
        rope(q, H, ent_pos[e]);
        rope(k, Hkv, ent_pos[e]);
      }
      for (int64_t g = 0; g < Hkv; ++g) {
        const int64_t off = kv_off(l, ent_slot[e], g) + ent_pos[e] * D;
        if (kv_bf16) {
          kn::to_bf16(k + g * D, kcache16.data() + off, D);
          kn::to_bf16(v + g * D, vcache16.data() + off, D);
        } else {
          std::copy(k + g * D, k + (g + 1) * D, kcache.data() + off);
          std::copy(v + g * D, v + (g + 1) * D, vcache.data() + off);
        }
      }
    }
    record(M, qkv.data(), QKV, QKV, [l](DecodeRecording::Part& p) -> torch::Tensor& { return p.act.qkv[l]; });
    attention(l, M);
    kn::matmul(att.data(), H * D, M, L.proj, x.data(), C, true, *pool);
    record(M, x.data(), C, C, [l](DecodeRecording::Part& p) -> torch::Tensor& { return p.act.x_mid[l]; });
    norm(L.norm2_w, L.norm2_b, x.data(), h.data(), M);
    if (llama) {
      kn::matmul(h.data(), C, M, L.up, ff.data(), 2 * F, false, *pool);
      for (int64_t e = 0; e < M; ++e) kn::silu_mul_inplace(ff.data() + e * 2 * F, ff.data() + e * 2 * F + F, F);
      kn::matmul(ff.data(), 2 * F, M, L.down, x.data(), C, true, *pool);
    } else {
      kn::matmul(h.data(), C, M, L.up, ff.data(), F, false, *pool);
      record(M, ff.data(), F, F, [l](DecodeRecording::Part& p) -> torch::Tensor& { return p.act.up[l]; });
      if (M >= 8)
        pool->run(M, [&](int64_t e0, int64_t e1) { kn::gelu_tanh_inplace(ff.data() + e0 * F, (e1 - e0) * F); });
      else
        kn::gelu_tanh_inplace(ff.data(), M * F);
      kn::matmul(ff.data(), F, M, L.down, x.data(), C, true, *pool);
    }
    record(M, x.data(), C, C, [l](DecodeRecording::Part& p) -> torch::Tensor& { return p.act.x_out[l]; });
  }
  for (int64_t s = 0; s < S; ++s) std::copy(x.data() + seg_last[s] * C, x.data() + (seg_last[s] + 1) * C, h.data() + s * C);
  norm(normf_w, normf_b, h.data(), last.data(), S);
  kn::matmul(last.data(), C, S, head, logits.data(), V, false, *pool);
  if (rec) {
    for (int64_t i = 0; i < S; ++i) {
      const int64_t e = seg_last[i], slot = ent_slot[e];
      if (rec_part[e] < 0) continue;
      auto& p = rec->parts[rec_part[e]];
      const int64_t t = ent_pos[e] - rec->prompt_len[slot] + 1;  // the response token these logits predict
      if (t < 0 || t >= p.resp_cols) continue;
      std::copy(logits.data() + i * V, logits.data() + (i + 1) * V,
                p.logits.data_ptr<float>() + (rec->row[slot] * p.resp_cols + t) * V);
      rec->logits_written[slot] = std::max(rec->logits_written[slot], t + 1);
    }
  }
  return logits.data();
}

void DecodeRecording::allocate(const ModelConfig& cfg, torch::Tensor* arena) {
  const int64_t C = cfg.d_model, QKV = (cfg.n_head + 2 * cfg.kv_heads()) * cfg.head_dim(), F = cfg.ff_dim();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  int64_t total = 0;
  for (const auto& p : parts) total += static_cast<int64_t>(part_bytes(cfg, p.rows, p.cols, p.resp_cols) / 4);
  torch::Tensor local;
  torch::Tensor& a = arena ? *arena : local;
  if (!a.defined() || a.numel() < total) a = torch::empty({total}, f32);
  int64_t off = 0;
  auto take = [&](int64_t d0, int64_t d1, int64_t d2) {
    auto t = a.narrow(0, off, d0 * d1 * d2).view({d0, d1, d2});
    off += d0 * d1 * d2;
    return t;
  };
  for (auto& p : parts) {
    auto make = [&](std::vector<torch::Tensor>& v, int64_t width) {
      v.assign(cfg.n_layer, torch::Tensor());
      for (auto& t : v) t = take(p.rows, p.cols, width);
    };
    make(p.act.qkv, QKV);
    make(p.act.x_mid, C);
    make(p.act.up, F);
    make(p.act.x_out, C);
    p.logits = take(p.rows, p.resp_cols, cfg.vocab_size);
  }
  written.assign(part.size(), 0);
  logits_written.assign(part.size(), 0);
}

void DecodeRecording::finish() {
  torch::NoGradGuard ng;
  for (size_t s = 0; s < part.size(); ++s) {
    if (part[s] < 0) continue;
    auto& p = parts[part[s]];
    const int64_t r = row[s], c0 = std::clamp<int64_t>(col0[s], 0, p.cols);
    const int64_t c1 = std::clamp<int64_t>(col0[s] + written[s], c0, p.cols);
    for (auto* v : p.act.all())
      for (auto& t : *v) {
        auto rt = t.select(0, r);
        if (c0 > 0) rt.narrow(0, 0, c0).zero_();
        if (c1 < p.cols) rt.narrow(0, c1, p.cols - c1).zero_();
      }
    if (logits_written[s] < p.resp_cols)
      p.logits.select(0, r).narrow(0, logits_written[s], p.resp_cols - logits_written[s]).zero_();
  }
}

size_t DecodeRecording::part_bytes(const ModelConfig& cfg, int64_t rows, int64_t cols, int64_t resp_cols) {
  const int64_t C = cfg.d_model, QKV = (cfg.n_head + 2 * cfg.kv_heads()) * cfg.head_dim(), F = cfg.ff_dim();
  return static_cast<size_t>(4 * rows * (cfg.n_layer * cols * (QKV + 2 * C + F) + resp_cols * cfg.vocab_size));
}

DecodeEngine::DecodeEngine(const Transformer& model, const DecodeEngineOptions& opts) : impl_(new Impl) {
  std::string why = unsupported_reason(model);
  if (!why.empty()) throw Error("decode engine: " + why);
  torch::NoGradGuard no_grad;
  int threads = opts.threads > 0 ? opts.threads : torch::get_num_threads();
  impl_->pool = std::make_unique<kn::ThreadPool>(threads);  // first: packing runs on it
  impl_->load(model, opts.bf16_weights);
  impl_->kv_bf16 = opts.bf16_weights;
}

DecodeEngine::~DecodeEngine() = default;

std::string DecodeEngine::unsupported_reason(const Transformer& model) {
  const ModelConfig& c = model->config();
  if (c.arch != "gpt2" && c.arch != "llama") return "unknown arch \"" + c.arch + "\"";
  if (c.d_model != c.n_head * c.head_dim()) return "d_model is not n_head * head_dim";
  if (c.arch == "llama" && c.head_dim() % 2) return "RoPE needs an even head_dim";
  for (const auto& p : model->parameters())
    if (!p.device().is_cpu()) return "weights are not on the CPU";
  return "";
}

void DecodeEngine::reset(int64_t slots, int64_t capacity) {
  Impl& m = *impl_;
  if (capacity > m.cfg.max_seq)
    throw Error("decode engine: capacity " + std::to_string(capacity) + " exceeds the model's max_seq " +
                std::to_string(m.cfg.max_seq));
  m.slots = slots;
  m.capacity = capacity;
  m.lens.assign(slots, 0);
  const size_t n = static_cast<size_t>(m.cfg.n_layer * slots * m.Hkv * capacity * m.D);
  if (m.kv_bf16 && m.kcache16.size() < n) {
    m.kcache16.resize(n);
    m.vcache16.resize(n);
  } else if (!m.kv_bf16 && m.kcache.size() < n) {
    m.kcache.resize(n);
    m.vcache.resize(n);
  }
}

const float* DecodeEngine::feed(const std::vector<int64_t>& slots, const std::vector<std::vector<int64_t>>& tokens) {
  Impl& m = *impl_;
  if (slots.size() != tokens.size()) throw Error("decode engine: feed needs one token list per slot");
  m.ent_slot.clear();
  m.ent_pos.clear();
  m.seg_last.clear();
  std::vector<int64_t> flat;
  for (size_t i = 0; i < slots.size(); ++i) {
    const int64_t s = slots[i], n = static_cast<int64_t>(tokens[i].size());
    if (s < 0 || s >= m.slots) throw Error("decode engine: slot " + std::to_string(s) + " out of range (reset first)");
    if (n == 0) throw Error("decode engine: empty token list for slot " + std::to_string(s));
    if (m.lens[s] + n > m.capacity)
      throw Error("decode engine: slot " + std::to_string(s) + " would hold " + std::to_string(m.lens[s] + n) +
                  " tokens, over the capacity " + std::to_string(m.capacity) + " given to reset()");
    for (int64_t j = 0; j < n; ++j) {
      m.ent_slot.push_back(s);
      m.ent_pos.push_back(m.lens[s] + j);
      flat.push_back(tokens[i][j]);
    }
    m.seg_last.push_back(static_cast<int64_t>(flat.size()) - 1);
  }
  const float* out = m.run(flat);
  for (size_t i = 0; i < slots.size(); ++i) m.lens[slots[i]] += static_cast<int64_t>(tokens[i].size());
  return out;
}

const float* DecodeEngine::feed_one(const int64_t* slots, const int64_t* tokens, int64_t n) {
  Impl& m = *impl_;
  m.ent_slot.assign(slots, slots + n);
  m.ent_pos.resize(n);
  m.seg_last.resize(n);
  thread_local std::vector<int64_t> flat;
  flat.assign(tokens, tokens + n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = slots[i];
    if (s < 0 || s >= m.slots || m.lens[s] + 1 > m.capacity)
      throw Error("decode engine: slot " + std::to_string(s) + " out of range or full (capacity " +
                  std::to_string(m.capacity) + ")");
    m.ent_pos[i] = m.lens[s];
    m.seg_last[i] = i;
  }
  const float* out = m.run(flat);
  for (int64_t i = 0; i < n; ++i) m.lens[slots[i]] += 1;
  return out;
}

void DecodeEngine::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  impl_->pool->run(n, fn);
}

void DecodeEngine::set_recording(DecodeRecording* rec) {
  if (rec && !DecodeRecording::supports(impl_->cfg))
    throw Error("decode engine: activation recording supports the gpt2 layout only, not \"" + impl_->cfg.arch + "\"");
  impl_->rec = rec;
}

int64_t DecodeEngine::length(int64_t slot) const { return impl_->lens.at(slot); }
int64_t DecodeEngine::vocab() const { return impl_->V; }

size_t DecodeEngine::weight_bytes() const {
  size_t b = impl_->head.bytes();
  for (const auto& L : impl_->layers) b += L.qkv.bytes() + L.proj.bytes() + L.up.bytes() + L.down.bytes();
  return b;
}

size_t DecodeEngine::kv_bytes_per_token() const {
  return static_cast<size_t>(2 * impl_->cfg.n_layer * impl_->Hkv * impl_->D) * (impl_->kv_bf16 ? 2 : 4);
}

}  // namespace rlhf
