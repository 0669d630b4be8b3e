// ModelConfig: derived sizes, validation, and the Hugging Face config.json mapping for
// GPT2LMHeadModel and LlamaForCausalLM.
#include "rlhf/model/config.h"

#include "rlhf/io/error.h"

namespace rlhf {

using json = nlohmann::json;

int64_t ModelConfig::ff_dim() const {
  if (d_ff > 0) return d_ff;
  if (arch == "llama") {
    // Meta's rule: 2/3 of 4*d, rounded up to a multiple of 256. HF config.json always carries
    // intermediate_size explicitly, so this only matters for configs built in code.
    int64_t h = 2 * (4 * d_model) / 3;
    return 256 * ((h + 255) / 256);
  }
  return 4 * d_model;
}

void ModelConfig::validate() const {
  auto fail = [](const std::string& m) { throw Error("model config: " + m); };
  if (arch != "gpt2" && arch != "llama") fail("arch \"" + arch + "\" is unknown (allowed: gpt2, llama)");
  if (vocab_size <= 0) fail("vocab_size must be positive (got " + std::to_string(vocab_size) + ")");
  if (n_layer <= 0) fail("n_layer must be positive (got " + std::to_string(n_layer) + ")");
  if (n_head <= 0) fail("n_head must be positive (got " + std::to_string(n_head) + ")");
  if (n_kv_head < 0) fail("n_kv_head must be >= 0 (0 = n_head; got " + std::to_string(n_kv_head) + ")");
  if (d_model <= 0) fail("d_model must be positive (got " + std::to_string(d_model) + ")");
  if (d_ff < 0) fail("d_ff must be >= 0 (0 = default rule; got " + std::to_string(d_ff) + ")");
  if (max_seq <= 0) fail("max_seq must be positive (got " + std::to_string(max_seq) + ")");
  if (d_model % n_head != 0)
    fail("d_model (" + std::to_string(d_model) + ") must be divisible by n_head (" + std::to_string(n_head) + ")");
  if (n_head % kv_heads() != 0)
    fail("n_head (" + std::to_string(n_head) + ") must be divisible by n_kv_head (" + std::to_string(kv_heads()) +
         ")");
  if (!(norm_eps > 0)) fail("norm_eps must be positive");
  if (arch == "llama") {
    if (head_dim() % 2 != 0) fail("head_dim (d_model / n_head = " + std::to_string(head_dim()) + ") must be even for RoPE");
    if (!(rope_theta > 0)) fail("rope_theta must be positive");
  } else {
    if (kv_heads() != n_head) fail("n_kv_head must equal n_head for gpt2 (grouped-query attention is llama-only)");
    if (!bias) fail("bias must be true for gpt2 (GPT2LMHeadModel always has biases)");
  }
  for (auto [name, id] : {std::pair{"bos_id", bos_id}, {"eos_id", eos_id}, {"pad_id", pad_id}})
    if (id < -1 || id >= vocab_size)
      fail(std::string(name) + " " + std::to_string(id) + " is outside the vocabulary [0, " +
           std::to_string(vocab_size) + ") (-1 = none)");
}

json ModelConfig::to_hf_json() const {
  json j;
  auto put_id = [&](const char* key, int64_t id) {
    if (id >= 0) j[key] = id;
  };
  if (arch == "gpt2") {
    j["model_type"] = "gpt2";
    j["architectures"] = {"GPT2LMHeadModel"};
    j["vocab_size"] = vocab_size;
    j["n_embd"] = d_model;
    j["n_layer"] = n_layer;
    j["n_head"] = n_head;
    j["n_positions"] = max_seq;
    j["n_ctx"] = max_seq;
    if (d_ff > 0)
      j["n_inner"] = d_ff;
    else
      j["n_inner"] = nullptr;
    j["layer_norm_epsilon"] = norm_eps;
    j["activation_function"] = "gelu_new";
  } else {
    j["model_type"] = "llama";
    j["architectures"] = {"LlamaForCausalLM"};
    j["vocab_size"] = vocab_size;
    j["hidden_size"] = d_model;
    j["intermediate_size"] = ff_dim();
    j["num_hidden_layers"] = n_layer;
    j["num_attention_heads"] = n_head;
    j["num_key_value_heads"] = kv_heads();
    j["max_position_embeddings"] = max_seq;
    j["rms_norm_eps"] = norm_eps;
    j["rope_theta"] = rope_theta;
    j["hidden_act"] = "silu";
    j["attention_bias"] = bias;
    j["mlp_bias"] = bias;
  }
  j["tie_word_embeddings"] = tie_embeddings;
  put_id("bos_token_id", bos_id);
  put_id("eos_token_id", eos_id);
  put_id("pad_token_id", pad_id);
  j["torch_dtype"] = "float32";
  return j;
}

namespace {

// Typed readers naming the file and the field.
struct Reader {
  const json& j;
  const std::string& where;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(where + ": field \"" + key + "\" " + what);
  }
  int64_t req_int(const std::string& key) const {
    if (!j.contains(key) || j[key].is_null()) throw Error(where + ": missing field \"" + key + "\"");
    return as_int(key);
  }
  int64_t as_int(const std::string& key) const {
    const json& v = j[key];
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
      return static_cast<int64_t>(v.get<double>());
    fail(key, "must be an integer (got " + v.dump() + ")");
  }
  int64_t opt_int(const std::string& key, int64_t def) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    return as_int(key);
  }
  int64_t positive(const std::string& key) const {
    int64_t v = req_int(key);
    if (v <= 0) fail(key, "must be positive (got " + std::to_string(v) + ")");
    return v;
  }
  double opt_num(const std::string& key, double def) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_number()) fail(key, "must be a number (got " + j[key].dump() + ")");
    return j[key].get<double>();
  }
  bool opt_bool(const std::string& key, bool def) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_boolean()) fail(key, "must be true or false (got " + j[key].dump() + ")");
    return j[key].get<bool>();
  }
  std::string opt_str(const std::string& key, const std::string& def) const {
    if (!j.contains(key) || j[key].is_null()) return def;
    if (!j[key].is_string()) fail(key, "must be a string (got " + j[key].dump() + ")");
    return j[key].get<std::string>();
  }
  // Special token ids may be an int, null, or (in some configs) a list; the first is taken.
  int64_t token_id(const std::string& key) const {
    if (!j.contains(key) || j[key].is_null()) return -1;
    const json& v = j[key];
    if (v.is_array()) {
      if (v.empty()) return -1;
      if (!v[0].is_number_integer()) fail(key, "must be an integer or a list of integers");
      return v[0].get<int64_t>();
    }
    return as_int(key);
  }
};

}  // namespace

ModelConfig ModelConfig::from_hf_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": config must be a JSON object");
  Reader r{j, where};
  ModelConfig c;
  std::string type = r.opt_str("model_type", "");
  if (type.empty()) throw Error(where + ": missing field \"model_type\" (expected \"gpt2\" or \"llama\")");
  if (type == "gpt2") {
    c.arch = "gpt2";
    c.vocab_size = r.positive("vocab_size");
    c.d_model = r.positive("n_embd");
    c.n_layer = r.positive("n_layer");
    c.n_head = r.positive("n_head");
    c.max_seq = j.contains("n_positions") ? r.positive("n_positions") : r.positive("n_ctx");
    c.d_ff = r.opt_int("n_inner", 0);
    if (c.d_ff < 0) r.fail("n_inner", "must be positive or null");
    c.norm_eps = r.opt_num("layer_norm_epsilon", 1e-5);
    std::string act = r.opt_str("activation_function", "gelu_new");
    if (act != "gelu_new" && act != "gelu_pytorch_tanh" && act != "gelu_fast")
      r.fail("activation_function", "\"" + act + "\" is not supported (only the tanh GELU: gelu_new)");
    c.tie_embeddings = r.opt_bool("tie_word_embeddings", true);
    c.bias = true;
    c.n_kv_head = 0;
    if (c.d_model % c.n_head != 0)
      r.fail("n_embd", "(" + std::to_string(c.d_model) + ") must be divisible by n_head (" + std::to_string(c.n_head) + ")");
  } else if (type == "llama") {
    c.arch = "llama";
    c.vocab_size = r.positive("vocab_size");
    c.d_model = r.positive("hidden_size");
    c.d_ff = r.positive("intermediate_size");
    c.n_layer = r.positive("num_hidden_layers");
    c.n_head = r.positive("num_attention_heads");
    c.n_kv_head = r.opt_int("num_key_value_heads", c.n_head);
    if (c.n_kv_head <= 0) r.fail("num_key_value_heads", "must be positive");
    c.max_seq = r.opt_int("max_position_embeddings", 2048);
    if (c.max_seq <= 0) r.fail("max_position_embeddings", "must be positive");
    c.norm_eps = r.opt_num("rms_norm_eps", 1e-6);
    c.rope_theta = r.opt_num("rope_theta", 10000.0);
    c.tie_embeddings = r.opt_bool("tie_word_embeddings", false);
    std::string act = r.opt_str("hidden_act", "silu");
    if (act != "silu") r.fail("hidden_act", "\"" + act + "\" is not supported (only silu)");
    bool attn_bias = r.opt_bool("attention_bias", false);
    bool mlp_bias = r.opt_bool("mlp_bias", attn_bias);
    if (attn_bias != mlp_bias) r.fail("mlp_bias", "must equal attention_bias (mixed bias layouts are not supported)");
    c.bias = attn_bias;
    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
      r.fail("rope_scaling", "is not supported (only plain RoPE); remove it or use an unscaled model");
    if (j.contains("head_dim") && !j["head_dim"].is_null() && c.d_model % c.n_head == 0 &&
        r.as_int("head_dim") != c.d_model / c.n_head)
      r.fail("head_dim", "must equal hidden_size / num_attention_heads");
    if (c.d_model % c.n_head != 0)
      r.fail("hidden_size", "(" + std::to_string(c.d_model) + ") must be divisible by num_attention_heads (" +
                                std::to_string(c.n_head) + ")");
    if (c.n_head % c.n_kv_head != 0)
      r.fail("num_attention_heads", "(" + std::to_string(c.n_head) + ") must be divisible by num_key_value_heads (" +
                                        std::to_string(c.n_kv_head) + ")");
    if ((c.d_model / c.n_head) % 2 != 0) r.fail("hidden_size", "/ num_attention_heads must be even for RoPE");
  } else {
    throw Error(where + ": field \"model_type\" \"" + type + "\" is not supported (allowed: gpt2, llama)");
  }
  c.bos_id = r.token_id("bos_token_id");
  c.eos_id = r.token_id("eos_token_id");
  c.pad_id = r.token_id("pad_token_id");
  // Some configs carry special ids beyond the embedding rows; keep them out rather than fail.
  for (int64_t* id : {&c.bos_id, &c.eos_id, &c.pad_id})
    if (*id >= c.vocab_size || *id < -1) *id = -1;
  try {
    c.validate();
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  return c;
}

}  // namespace rlhf
