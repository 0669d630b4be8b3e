// Hugging Face tokenizer.json (byte-level BPE) load and save, tokenizer_config.json, and the
// original GPT-2 encoder.json + vocab.bpe files.
#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/formats.h"
#include "tokenizer/hf_json_parts.h"

namespace rlhf {
namespace {

using io::json;

const char* kGpt2Pattern =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";


void check_pre_tokenizer(const json& p, const std::string& where, bool* byte_level, bool* split = nullptr) {
  if (p.is_null()) return;
  bool local_split = false;
  if (!split) split = &local_split;
  std::string type = p.value("type", "");
  if (type == "ByteLevel") {
    *byte_level = true;
    if (!p.value("use_regex", true) && !*split)
      throw Error(where + ": pre_tokenizer ByteLevel with use_regex=false (and no GPT-2 Split before it) is not supported");
    if (p.value("add_prefix_space", false))
      throw Error(where + ": pre_tokenizer ByteLevel with add_prefix_space=true is not supported");
  } else if (type == "Sequence") {
    for (const auto& q : p.value("pretokenizers", json::array())) check_pre_tokenizer(q, where, byte_level, split);
  } else if (type == "Split") {
    std::string pattern = p.contains("pattern") && p["pattern"].is_object() ? p["pattern"].value("Regex", p["pattern"].value("String", "")) : "";
    if (pattern != kGpt2Pattern)
      throw Error(where + ": pre_tokenizer Split with pattern \"" + pattern +
                  "\" is not supported (only GPT-2's byte-level split is implemented)");
    *split = true;
  } else {
    throw Error(where + ": pre_tokenizer type \"" + type + "\" is not supported (expected ByteLevel)");
  }
}

std::string token_name(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

}  // namespace

// Vocabulary object {token: id} -> vector indexed by id (ids must be 0..n-1 without gaps, added
// tokens may extend it).
std::vector<std::string> vocab_from_object(const json& v, const std::vector<AddedToken>& added,
                                           const std::string& where) {
  if (!v.is_object()) throw Error(where + ": field \"model.vocab\" must be an object {token: id}");
  size_t n = v.size();
  for (const auto& a : added) n = std::max(n, static_cast<size_t>(a.id) + 1);
  std::vector<std::string> vocab(n);
  std::vector<char> seen(n, 0);
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it.value().is_number_integer())
      throw Error(where + ": model.vocab[\"" + it.key() + "\"] must be an integer id");
    long long id = it.value().get<long long>();
    if (id < 0 || static_cast<size_t>(id) >= n)
      throw Error(where + ": model.vocab[\"" + it.key() + "\"] = " + std::to_string(id) +
                  " is outside 0.." + std::to_string(n - 1) + " (ids must be contiguous)");
    if (seen[id]) throw Error(where + ": model.vocab has two tokens with id " + std::to_string(id));
    seen[id] = 1;
    vocab[id] = it.key();
  }
  for (const auto& a : added) {
    if (seen[a.id] && vocab[a.id] != a.content)
      throw Error(where + ": added token \"" + a.content + "\" has id " + std::to_string(a.id) + ", which model.vocab gives to \"" + vocab[a.id] + "\"");
    vocab[a.id] = a.content;
    seen[a.id] = 1;
  }
  for (size_t id = 0; id < n; ++id)
    if (!seen[id]) throw Error(where + ": no token has id " + std::to_string(id) + " (ids must be contiguous)");
  return vocab;
}

std::vector<AddedToken> read_added(const json& j, const std::string& where) {
  std::vector<AddedToken> out;
  if (!j.contains("added_tokens") || j["added_tokens"].is_null()) return out;
  const json& arr = j["added_tokens"];
  if (!arr.is_array()) throw Error(where + ": field \"added_tokens\" must be an array");
  for (size_t k = 0; k < arr.size(); ++k) {
    const json& t = arr[k];
    std::string w = where + ": added_tokens[" + std::to_string(k) + "]";
    if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
        !t["content"].is_string())
      throw Error(w + " needs an integer \"id\" and a string \"content\"");
    AddedToken a;
    a.id = t["id"].get<int32_t>();
    if (a.id < 0) throw Error(w + ": negative id");
    a.content = t["content"].get<std::string>();
    a.special = t.value("special", false);
    out.push_back(std::move(a));
  }
  return out;
}

// Accepts ByteLevel (with its built-in GPT-2 split), or a Sequence of a Split with GPT-2's
// pattern and a ByteLevel without its own split.
std::vector<std::pair<std::string, std::string>> read_merges(const json& m, const std::string& path) {
  std::vector<std::pair<std::string, std::string>> merges;
  if (m.contains("merges") && !m["merges"].is_null()) {
    const json& ms = m["merges"];
    if (!ms.is_array()) throw Error(path + ": field \"model.merges\" must be an array");
    merges.reserve(ms.size());
    for (size_t k = 0; k < ms.size(); ++k) {
      const json& e = ms[k];
      if (e.is_string()) {
        const std::string& s = e.get_ref<const std::string&>();
        size_t sp = s.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= s.size() || s.find(' ', sp + 1) != std::string::npos)
          throw Error(path + ": model.merges[" + std::to_string(k) + "] = \"" + s + "\" is not \"left right\"");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        throw Error(path + ": model.merges[" + std::to_string(k) + "] must be \"a b\" or [\"a\", \"b\"]");
      }
    }
  }
  return merges;
}

SpecialTokenNames config_beside(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string config = io::join_path(dir, "tokenizer_config.json");
  return io::file_exists(config) ? read_tokenizer_config(config) : SpecialTokenNames{};
}

SpecialTokenNames read_tokenizer_config(const std::string& path) {
  json j = io::read_json(path);
  if (!j.is_object()) throw Error(path + ": expected a JSON object");
  SpecialTokenNames n;
  if (j.contains("bos_token")) n.bos = token_name(j["bos_token"]);
  if (j.contains("eos_token")) n.eos = token_name(j["eos_token"]);
  if (j.contains("pad_token")) n.pad = token_name(j["pad_token"]);
  return n;
}

void write_tokenizer_config(const std::string& dir, const SpecialTokenNames& names, bool add_bos,
                            const std::string& tokenizer_class) {
  std::string path = io::join_path(dir, "tokenizer_config.json");
  json j = json::object();
  if (io::file_exists(path)) {
    try {
      j = io::read_json(path);
    } catch (const Error&) {
      j = json::object();  // an unreadable old file is replaced
    }
    if (!j.is_object()) j = json::object();
  }
  auto set = [&](const char* key, const std::string& v) {
    if (v.empty()) j[key] = nullptr;
    else j[key] = v;
  };
  set("bos_token", names.bos);
  set("eos_token", names.eos);
  set("pad_token", names.pad);
  j["add_bos_token"] = add_bos;
  j["add_eos_token"] = false;
  j["clean_up_tokenization_spaces"] = false;
  j["tokenizer_class"] = tokenizer_class;
  io::write_json_atomic(path, j);
}

std::shared_ptr<BpeTokenizer> load_hf_tokenizer_json(const std::string& path) {
  return bpe_from_hf_json(read_hf_json(path), path);
}

json read_hf_json(const std::string& path) {
  json j = io::read_json(path);
  if (!j.is_object()) throw Error(path + ": expected a JSON object (a Hugging Face tokenizer.json)");
  if (!j.contains("model") || !j["model"].is_object()) throw Error(path + ": missing object field \"model\"");
  return j;
}

std::shared_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  json j = read_hf_json(path);
  if (is_spm_style_json(j)) return spm_from_hf_json(j, path);
  return bpe_from_hf_json(j, path);
}

std::shared_ptr<BpeTokenizer> bpe_from_hf_json(const json& j, const std::string& path) {
  const json& m = j["model"];
  std::string type = m.value("type", "BPE");
  if (type != "BPE")
    throw Error(path + ": model.type \"" + type + "\" is not supported (only BPE; for SentencePiece use tokenizer.model)");
  if (m.value("byte_fallback", false))
    throw Error(path + ": model.byte_fallback=true (SentencePiece-style BPE) is not supported in tokenizer.json; load the tokenizer.model instead");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(key) && m[key].is_string() && !m[key].get<std::string>().empty())
      throw Error(path + std::string(": model.") + key + " is not supported");
  if (j.contains("normalizer") && !j["normalizer"].is_null())
    throw Error(path + ": field \"normalizer\" must be null (normalizers are not supported)");
  bool byte_level = false;
  check_pre_tokenizer(j.value("pre_tokenizer", json()), path, &byte_level);
  if (!byte_level) throw Error(path + ": field \"pre_tokenizer\" must be ByteLevel (only byte-level BPE is supported)");

  std::vector<AddedToken> added = read_added(j, path);
  if (!m.contains("vocab")) throw Error(path + ": missing field \"model.vocab\"");
  std::vector<std::string> vocab = vocab_from_object(m["vocab"], added, path);

  std::vector<std::pair<std::string, std::string>> merges = read_merges(m, path);
  SpecialTokenNames names = config_beside(path);
  return std::make_shared<BpeTokenizer>(std::move(vocab), merges, std::move(added), names, path);
}

json BpeTokenizer::to_hf_json() const {
  json added = json::array();
  for (const auto& a : added_)
    added.push_back({{"id", a.id}, {"content", a.content}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", !a.special}, {"special", a.special}});
  json vocab = json::object();
  for (size_t id = 0; id < vocab_.size(); ++id) vocab[vocab_[id]] = id;
  // "a b" strings are read by every version of Hugging Face tokenizers ([a, b] arrays only since
  // 0.20); arrays are needed only when a part contains a space, which byte-level tokens never do.
  bool strings = true;
  for (const auto& [a, b] : merge_list_)
    strings = strings && vocab_[a].find(' ') == std::string::npos && vocab_[b].find(' ') == std::string::npos;
  json merges = json::array();
  for (const auto& [a, b] : merge_list_) {
    if (strings) merges.push_back(vocab_[a] + " " + vocab_[b]);
    else merges.push_back(json::array({vocab_[a], vocab_[b]}));
  }
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  json post = byte_level;
  post["trim_offsets"] = false;
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", byte_level},
          {"post_processor", post},
          {"decoder", byte_level},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges}}}};
}

void BpeTokenizer::save(const std::string& dir) const {
  io::make_dirs(dir);
  // Compact form: a 50k vocabulary pretty-printed is several MB of indentation.
  io::write_file_atomic(io::join_path(dir, "tokenizer.json"), to_hf_json().dump() + "\n");
  write_tokenizer_config(dir, names_, false, "PreTrainedTokenizerFast");
}

std::shared_ptr<BpeTokenizer> load_gpt2_files(const std::string& dir) {
  std::string enc_path = io::join_path(dir, "encoder.json"), bpe_path = io::join_path(dir, "vocab.bpe");
  json enc = io::read_json(enc_path);
  std::vector<std::string> vocab = vocab_from_object(enc, {}, enc_path);
  std::string text = io::read_file(bpe_path);
  std::vector<std::pair<std::string, std::string>> merges;
  size_t pos = 0, line = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(pos, end - pos);
    pos = end + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (l.empty() || (line == 1 && l.rfind("#version", 0) == 0)) continue;
    size_t sp = l.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 >= l.size())
      throw Error(bpe_path + ":" + std::to_string(line) + ": expected \"left right\", got \"" + l + "\"");
    merges.emplace_back(l.substr(0, sp), l.substr(sp + 1));
  }
  std::vector<AddedToken> added;
  SpecialTokenNames names;
  for (size_t id = 0; id < vocab.size(); ++id)
    if (vocab[id] == "<|endoftext|>") {
      added.push_back({static_cast<int32_t>(id), vocab[id], true});
      names.bos = names.eos = vocab[id];
    }
  return std::make_shared<BpeTokenizer>(std::move(vocab), merges, std::move(added), names, dir);
}

}  // namespace rlhf
