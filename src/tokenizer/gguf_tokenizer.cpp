// The vocabulary embedded in a GGUF file (tokenizer.ggml.*) as a Tokenizer.
#include "rlhf/io/error.h"
#include "rlhf/io/gguf.h"
#include "rlhf/tokenizer/formats.h"
#include "rlhf/tokenizer/sentencepiece.h"

namespace rlhf {
namespace {

int32_t optional_id(const io::GgufFile& g, const std::string& key, size_t n) {
  if (!g.has(key)) return -1;
  uint64_t id = g.get_uint(key);
  if (id >= n)
    throw Error(g.path() + ": metadata key \"" + key + "\" = " + std::to_string(id) + " is outside the vocabulary (size " +
                std::to_string(n) + ")");
  return static_cast<int32_t>(id);
}

std::vector<int64_t> token_types(const io::GgufFile& g, size_t n) {
  std::vector<int64_t> types(n, 1);
  if (g.has("tokenizer.ggml.token_type")) {
    types = g.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n)
      throw Error(g.path() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                  std::to_string(n) + " tokens");
    for (size_t k = 0; k < n; ++k)
      if (types[k] < 1 || types[k] > 6)
        throw Error(g.path() + ": tokenizer.ggml.token_type[" + std::to_string(k) + "] = " + std::to_string(types[k]) +
                    " is not a known token type (1-6)");
  }
  return types;
}

std::shared_ptr<Tokenizer> llama_vocab(const io::GgufFile& g, std::vector<std::string> tokens) {
  size_t n = tokens.size();
  PieceTable t;
  t.scores = g.has("tokenizer.ggml.scores") ? g.get_f32_array("tokenizer.ggml.scores") : std::vector<float>(n, 0.f);
  if (t.scores.size() != n)
    throw Error(g.path() + ": tokenizer.ggml.scores has " + std::to_string(t.scores.size()) + " entries for " +
                std::to_string(n) + " tokens");
  for (int64_t ty : token_types(g, n)) t.types.push_back(static_cast<PieceType>(ty));
  t.pieces = std::move(tokens);
  t.bos = optional_id(g, "tokenizer.ggml.bos_token_id", n);
  t.eos = optional_id(g, "tokenizer.ggml.eos_token_id", n);
  t.pad = optional_id(g, "tokenizer.ggml.padding_token_id", n);
  t.unk = optional_id(g, "tokenizer.ggml.unknown_token_id", n);
  if (t.unk < 0)
    for (size_t k = 0; k < n; ++k)
      if (t.types[k] == PieceType::Unknown) {
        t.unk = static_cast<int32_t>(k);
        break;
      }
  if (g.has("tokenizer.ggml.add_space_prefix")) t.add_dummy_prefix = g.get_bool("tokenizer.ggml.add_space_prefix");
  return std::make_shared<SpmBpeTokenizer>(std::move(t), g.path());
}

std::shared_ptr<Tokenizer> gpt2_vocab(const io::GgufFile& g, std::vector<std::string> tokens) {
  std::string pre = g.get_string_or("tokenizer.ggml.pre", "default");
  if (pre != "default" && pre != "gpt-2" && pre != "gpt2")
    throw Error(g.path() + ": tokenizer.ggml.pre = \"" + pre + "\" is not supported (only GPT-2's pre-tokenizer)");
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : g.get_string_array("tokenizer.ggml.merges")) {
    size_t sp = m.find(' ');
    if (sp == std::string::npos) throw Error(g.path() + ": tokenizer.ggml.merges entry \"" + m + "\" is not \"a b\"");
    merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  std::vector<int64_t> types = token_types(g, tokens.size());
  std::vector<AddedToken> added;
  for (size_t k = 0; k < tokens.size(); ++k)
    if (types[k] == 3 || types[k] == 4) added.push_back({static_cast<int32_t>(k), tokens[k], types[k] == 3});
  auto name = [&](const char* key) {
    int32_t id = optional_id(g, key, tokens.size());
    return id >= 0 ? tokens[id] : std::string();
  };
  SpecialTokenNames names{name("tokenizer.ggml.bos_token_id"), name("tokenizer.ggml.eos_token_id"),
                          name("tokenizer.ggml.padding_token_id")};
  return std::make_shared<BpeTokenizer>(std::move(tokens), merges, std::move(added), names, g.path());
}

}  // namespace

std::shared_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path) {
  io::GgufFile g(path);
  std::string model = g.get_string("tokenizer.ggml.model");
  std::vector<std::string> tokens = g.get_string_array("tokenizer.ggml.tokens");
  if (tokens.empty()) throw Error(path + ": tokenizer.ggml.tokens is empty");
  if (model == "llama") return llama_vocab(g, std::move(tokens));
  if (model == "gpt2") return gpt2_vocab(g, std::move(tokens));
  throw Error(path + ": tokenizer.ggml.model = \"" + model + "\" is not supported (expected \"llama\" or \"gpt2\")");
}

}  // namespace rlhf
