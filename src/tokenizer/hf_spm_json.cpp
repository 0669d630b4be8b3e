// Llama-style tokenizer.json (SentencePiece BPE written by Hugging Face's converter) as an
// SpmBpeTokenizer: piece scores are derived from the merge ranks (a token made by merge r scores
// -r), which reproduces the order in which the converter listed the merges (by piece score).
#include <algorithm>
#include <cctype>
#include <limits>
#include <unordered_map>

#include "rlhf/io/error.h"
#include "tokenizer/hf_json_parts.h"

namespace rlhf {
namespace {

using io::json;

const std::string kSpace = "\xe2\x96\x81";

bool is_byte_piece(const std::string& p) {
  return p.size() == 6 && p.compare(0, 3, "<0x") == 0 && p[5] == '>' && std::isxdigit(static_cast<unsigned char>(p[3])) &&
         std::isxdigit(static_cast<unsigned char>(p[4]));
}

// Whether the normalizer/pre-tokenizer add "▁" at the start: Prepend("▁") or Metaspace with a
// prepend scheme other than "never" (older files: add_prefix_space).
bool dummy_prefix(const json& j, const std::string& path) {
  bool prefix = false;
  const json norm = j.value("normalizer", json());
  std::vector<json> norms;
  if (norm.is_object() && norm.value("type", "") == "Sequence") norms = norm.value("normalizers", std::vector<json>{});
  else if (norm.is_object()) norms.push_back(norm);
  for (const auto& n : norms) {
    std::string t = n.value("type", "");
    if (t == "Prepend" && n.value("prepend", "") == kSpace) prefix = true;
    else if (t == "Replace") continue;  // " " -> "▁": what encode_plain does anyway
    else throw Error(path + ": normalizer \"" + t + "\" is not supported in a SentencePiece-style tokenizer.json");
  }
  const json pre = j.value("pre_tokenizer", json());
  if (pre.is_object()) {
    if (pre.value("type", "") != "Metaspace")
      throw Error(path + ": pre_tokenizer \"" + pre.value("type", "") + "\" is not supported with model.byte_fallback");
    if (pre.contains("prepend_scheme")) prefix = pre.value("prepend_scheme", "always") != "never";
    else prefix = pre.value("add_prefix_space", true);
  }
  return prefix;
}

}  // namespace

bool is_spm_style_json(const json& j) {
  if (j["model"].value("byte_fallback", false)) return true;
  const json pre = j.value("pre_tokenizer", json());
  return pre.is_object() && pre.value("type", "") == "Metaspace";
}

std::shared_ptr<SpmBpeTokenizer> spm_from_hf_json(const json& j, const std::string& path) {
  const json& m = j["model"];
  if (m.value("type", "BPE") != "BPE")
    throw Error(path + ": model.type \"" + m.value("type", "") + "\" is not supported (only BPE)");
  std::vector<AddedToken> added = read_added(j, path);
  if (!m.contains("vocab")) throw Error(path + ": missing field \"model.vocab\"");
  PieceTable t;
  t.pieces = vocab_from_object(m["vocab"], added, path);
  const size_t n = t.pieces.size();
  t.add_dummy_prefix = dummy_prefix(j, path);
  t.types.assign(n, PieceType::Normal);
  std::string unk = m.value("unk_token", json()).is_string() ? m["unk_token"].get<std::string>() : "";
  for (size_t id = 0; id < n; ++id) {
    if (t.pieces[id] == unk) {
      t.types[id] = PieceType::Unknown;
      t.unk = static_cast<int32_t>(id);
    } else if (is_byte_piece(t.pieces[id])) {
      t.types[id] = PieceType::Byte;
    }
  }
  for (const auto& a : added)
    if (t.types[a.id] != PieceType::Unknown) t.types[a.id] = a.special ? PieceType::Control : PieceType::UserDefined;

  // Scores: a token made by merge r scores -r (its first merge); others can only be single
  // characters or specials, scored below every merge so they are never preferred.
  t.scores.assign(n, -std::numeric_limits<float>::max());
  std::unordered_map<std::string, int32_t> ids;
  for (size_t id = 0; id < n; ++id) ids.emplace(t.pieces[id], static_cast<int32_t>(id));
  auto merges = read_merges(m, path);
  for (size_t r = 0; r < merges.size(); ++r) {
    auto it = ids.find(merges[r].first + merges[r].second);
    if (it == ids.end() || !ids.count(merges[r].first) || !ids.count(merges[r].second))
      throw Error(path + ": merge #" + std::to_string(r) + " (\"" + merges[r].first + "\" \"" + merges[r].second +
                  "\") uses or makes a token that is not in the vocabulary");
    float& s = t.scores[it->second];
    s = std::max(s, -static_cast<float>(r));
  }
  // Pieces never produced by a merge must not be formed by concatenation either.
  for (size_t id = 0; id < n; ++id)
    if (t.scores[id] == -std::numeric_limits<float>::max() && t.types[id] == PieceType::Normal) {
      size_t first_len = t.pieces[id].empty() ? 0 : 1;
      while (first_len < t.pieces[id].size() && (static_cast<unsigned char>(t.pieces[id][first_len]) & 0xC0) == 0x80)
        ++first_len;
      if (first_len < t.pieces[id].size()) t.types[id] = PieceType::Unused;  // multi-character, unreachable
    }
  SpecialTokenNames names = config_beside(path);
  auto role = [&](const std::string& name, const char* fallback) -> int32_t {
    std::string want = name.empty() ? fallback : name;
    auto it = ids.find(want);
    return it == ids.end() ? -1 : it->second;
  };
  t.bos = role(names.bos, "<s>");
  t.eos = role(names.eos, "</s>");
  t.pad = names.pad.empty() ? -1 : role(names.pad, "");
  return std::make_shared<SpmBpeTokenizer>(std::move(t), path);
}

}  // namespace rlhf
