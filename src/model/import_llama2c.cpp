// llama2.c model import (Karpathy's run.c "legacy" version-0 .bin format).
#include <cstring>
#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/model/import.h"

namespace rlhf {

torch::Tensor interleaved_to_half_split(const torch::Tensor& w, int64_t n_heads) {
  const int64_t rows = w.size(0), cols = w.size(1), D = rows / n_heads;
  return w.reshape({n_heads, D / 2, 2, cols}).transpose(1, 2).reshape({rows, cols});
}

namespace {

constexpr int32_t kLlama2cMagic = 0x616b3432;  // "ak42": the newer versioned exports

struct Llama2cHeader {
  int32_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
};

// Float count of the weights llama2.c's memory_map_weights walks through, freq_cis included.
uint64_t llama2c_floats(const Llama2cHeader& h, bool shared) {
  const uint64_t C = h.dim, F = h.hidden_dim, L = h.n_layers, V = std::abs(h.vocab_size);
  const uint64_t D = C / h.n_heads, kv = h.n_kv_heads * D, q = h.n_heads * D;
  uint64_t n = V * C + L * C + L * C * q + 2 * L * C * kv + L * q * C + L * C + 3 * L * C * F + C;
  n += static_cast<uint64_t>(h.seq_len) * D;  // freq_cis_real + freq_cis_imag, seq_len * D/2 each
  if (!shared) n += V * C;
  return n;
}

}  // namespace

ImportedModel import_llama2c(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path + ": cannot open");
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  Llama2cHeader h;
  if (size < sizeof(h) || !in.read(reinterpret_cast<char*>(&h), sizeof(h)))
    throw Error(path + ": truncated llama2.c header (need 28 bytes: dim, hidden_dim, n_layers, n_heads, n_kv_heads, "
                "vocab_size, seq_len)");
  if (h.dim == kLlama2cMagic)
    throw Error(path + ": llama2.c export version " + std::to_string(h.hidden_dim) +
                " is not supported (re-export with export.py --version 0, the legacy format)");
  auto field = [&](const char* name, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      throw Error(path + ": llama2.c header field " + name + " = " + std::to_string(v) + " is out of range [" +
                  std::to_string(lo) + ", " + std::to_string(hi) + "] (not a llama2.c model?)");
  };
  field("dim", h.dim, 2, 1 << 16);
  field("hidden_dim", h.hidden_dim, 1, 1 << 18);
  field("n_layers", h.n_layers, 1, 1024);
  field("n_heads", h.n_heads, 1, 1024);
  field("n_kv_heads", h.n_kv_heads, 1, h.n_heads);
  field("vocab_size", std::abs(static_cast<int64_t>(h.vocab_size)), 1, 1 << 22);
  field("seq_len", h.seq_len, 1, 1 << 22);
  if (h.dim % h.n_heads != 0 || (h.dim / h.n_heads) % 2 != 0)
    throw Error(path + ": llama2.c header: dim " + std::to_string(h.dim) + " must split into n_heads " +
                std::to_string(h.n_heads) + " heads of even size");
  if (h.n_heads % h.n_kv_heads != 0)
    throw Error(path + ": llama2.c header: n_heads " + std::to_string(h.n_heads) + " is not a multiple of n_kv_heads " +
                std::to_string(h.n_kv_heads));
  const bool shared = h.vocab_size > 0;
  const uint64_t want = sizeof(h) + 4 * llama2c_floats(h, shared);
  if (size != want)
    throw Error(path + ": llama2.c file is " + std::to_string(size) + " bytes but its header (dim " +
                std::to_string(h.dim) + ", " + std::to_string(h.n_layers) + " layers, vocab " +
                std::to_string(h.vocab_size) + ") implies " + std::to_string(want) +
                (size < want ? " (truncated)" : " (trailing data: not a version-0 llama2.c export?)"));

  ModelConfig c;
  c.arch = "llama";
  c.vocab_size = std::abs(h.vocab_size);
  c.d_model = h.dim;
  c.d_ff = h.hidden_dim;
  c.n_layer = h.n_layers;
  c.n_head = h.n_heads;
  c.n_kv_head = h.n_kv_heads;
  c.max_seq = h.seq_len;
  c.norm_eps = 1e-5;  // run.c's rmsnorm
  c.rope_theta = 10000.0;
  c.tie_embeddings = shared;
  c.bias = false;
  c.bos_id = c.vocab_size > 1 ? 1 : -1;  // SentencePiece llama vocabularies: <s> = 1, </s> = 2
  c.eos_id = c.vocab_size > 2 ? 2 : -1;
  c.validate();

  const int64_t C = c.d_model, F = c.d_ff, L = c.n_layer, D = c.head_dim();
  const int64_t H = c.n_head, Hkv = c.kv_heads();
  auto read = [&](std::vector<int64_t> shape) {
    auto t = torch::empty(shape, torch::kFloat);
    if (!in.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * 4))
      throw Error(path + ": truncated while reading weights");
    return t;
  };
  auto emb = read({c.vocab_size, C});
  auto rms_att = read({L, C});
  auto wq = read({L, H * D, C});
  auto wk = read({L, Hkv * D, C});
  auto wv = read({L, Hkv * D, C});
  auto wo = read({L, C, H * D});
  auto rms_ffn = read({L, C});
  auto w1 = read({L, F, C});
  auto w2 = read({L, C, F});
  auto w3 = read({L, F, C});
  auto rms_final = read({C});
  read({c.max_seq * D});  // freq_cis_real/imag: recomputed by the model
  torch::Tensor wcls = shared ? torch::Tensor() : read({c.vocab_size, C});

  std::vector<std::pair<std::string, torch::Tensor>> t;
  t.emplace_back("model.embed_tokens.weight", emb);
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    t.emplace_back(p + "input_layernorm.weight", rms_att[l]);
    t.emplace_back(p + "self_attn.q_proj.weight", interleaved_to_half_split(wq[l], H));
    t.emplace_back(p + "self_attn.k_proj.weight", interleaved_to_half_split(wk[l], Hkv));
    t.emplace_back(p + "self_attn.v_proj.weight", wv[l]);
    t.emplace_back(p + "self_attn.o_proj.weight", wo[l]);
    t.emplace_back(p + "post_attention_layernorm.weight", rms_ffn[l]);
    t.emplace_back(p + "mlp.gate_proj.weight", w1[l]);
    t.emplace_back(p + "mlp.up_proj.weight", w3[l]);
    t.emplace_back(p + "mlp.down_proj.weight", w2[l]);
  }
  t.emplace_back("model.norm.weight", rms_final);
  if (!shared) t.emplace_back("lm_head.weight", wcls);

  ImportedModel m;
  m.config = c;
  m.model = Transformer(c);
  m.model->load_hf_state(t, path);
  return m;
}

std::string detect_model_format(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path + ": cannot open");
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  char head[28] = {};
  in.read(head, sizeof(head));
  if (in.gcount() >= 4 && std::memcmp(head, "GGUF", 4) == 0) return "gguf";
  if (in.gcount() == 28) {
    Llama2cHeader h;
    std::memcpy(&h, head, sizeof(h));
    if (h.dim == kLlama2cMagic) return "llama2c";  // versioned export: import_llama2c explains
    bool sane = h.dim > 0 && h.dim < (1 << 16) && h.n_heads > 0 && h.n_heads <= 1024 && h.dim % h.n_heads == 0 &&
                h.n_kv_heads > 0 && h.n_kv_heads <= h.n_heads && h.n_layers > 0 && h.n_layers <= 1024 &&
                h.hidden_dim > 0 && h.hidden_dim < (1 << 18) && h.vocab_size != 0 && std::abs(h.vocab_size) < (1 << 22) &&
                h.seq_len > 0 && h.seq_len < (1 << 22);
    // A plausible header is enough to pick the format; import_llama2c then checks the size.
    if (sane && size > 28) return "llama2c";
  }
  return "";
}

}  // namespace rlhf
