// Preference readers: project pairs and rankings, TRL-style pairs, and HH-RLHF transcripts (split
// into the shared dialogue prefix and the two final assistant turns), into PreferenceGroup records.
#include "rlhf/data/preference.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"

namespace rlhf::data {

namespace {
const std::string kAssistant = "\n\nAssistant:";
const std::string kHuman = "\n\nHuman:";

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

// Content problem: a skip (or, in strict mode, an error naming the record).
struct Skip {
  std::string reason;
};

void read_gold(const io::json& r, const io::Where& where, PreferenceGroup& g, bool pair) {
  size_t k = g.responses.size();
  auto it = r.find("gold");
  if (it != r.end() && !it->is_null()) {
    if (it->is_array()) {
      if (it->size() != k)
        throw Error(where.str() + ": field \"gold\" has " + std::to_string(it->size()) + " scores for " +
                    std::to_string(k) + " responses");
      for (const auto& v : *it) {
        if (!v.is_number()) throw Error(where.str() + ": field \"gold\" must hold numbers");
        g.gold.push_back(v.get<double>());
      }
      return;
    }
    if (it->is_object() && pair) {
      g.gold = {io::get_number(*it, "chosen", where), io::get_number(*it, "rejected", where)};
      return;
    }
    if (it->is_number() || it->is_string() || it->is_boolean()) return;  // a judged label, not per-response scores
    throw Error(where.str() + ": field \"gold\" must be an array of scores (one per response)" +
                std::string(pair ? " or {\"chosen\", \"rejected\"}" : ""));
  }
  if (pair && r.contains("gold_chosen"))
    g.gold = {io::get_number(r, "gold_chosen", where), io::get_number(r, "gold_rejected", where)};
}

void read_common(const io::json& r, const io::Where& where, PreferenceGroup& g) {
  if (r.contains("annotator") && !r["annotator"].is_null()) {
    const auto& a = r["annotator"];
    g.annotator = a.is_string() ? a.get<std::string>() : a.dump();
  }
  if (r.contains("margin") && !r["margin"].is_null())
    g.margin = io::get_number(r, "margin", where);
  else if (r.contains("strength") && !r["strength"].is_null())
    g.margin = io::get_number(r, "strength", where);
  g.where = where.str();
}

void check_responses(const PreferenceGroup& g) {
  for (const auto& s : g.responses)
    if (blank(s)) throw Skip{"empty response"};
  // Identical texts on different levels contradict each other; on one level they are harmless.
  for (size_t i = 0; i < g.responses.size(); ++i)
    for (size_t j = i + 1; j < g.responses.size(); ++j)
      if (g.responses[i] == g.responses[j] && g.level[i] != g.level[j])
        throw Skip{g.responses.size() == 2 ? "chosen == rejected" : "identical responses ranked differently"};
}

void parse_pair(const io::json& r, const io::Where& where, PreferenceGroup& g) {
  g.format = "pair";
  g.prompt = io::get_string(r, "prompt", where);
  g.responses = {io::get_string(r, "chosen", where), io::get_string(r, "rejected", where)};
  bool tie = false;
  if (r.contains("tie") && !r["tie"].is_null()) {
    if (!r["tie"].is_boolean()) throw Error(where.str() + ": field \"tie\" must be true or false");
    tie = r["tie"].get<bool>();
  }
  g.level = {0, tie ? 0 : 1};
  if (g.responses[0] == g.responses[1] && !tie) throw Skip{"chosen == rejected"};
  read_common(r, where, g);
  read_gold(r, where, g, true);
}

void parse_ranking(const io::json& r, const io::Where& where, PreferenceGroup& g) {
  g.format = "ranking";
  g.prompt = io::get_string(r, "prompt", where);
  const auto& resp = io::get_field(r, "responses", where);
  if (!resp.is_array()) throw Error(where.str() + ": field \"responses\" must be an array of strings");
  for (const auto& s : resp) {
    if (!s.is_string()) throw Error(where.str() + ": field \"responses\" must be an array of strings");
    g.responses.push_back(s.get<std::string>());
  }
  size_t k = g.responses.size();
  if (k < 2) throw Error(where.str() + ": a ranking needs at least 2 responses (got " + std::to_string(k) + ")");
  const auto& ranking = io::get_field(r, "ranking", where);
  if (!ranking.is_array())
    throw Error(where.str() + ": field \"ranking\" must be an array of response indices, best first");
  g.level.assign(k, -1);
  int lvl = 0;
  auto place = [&](const io::json& v) {
    if (!v.is_number_integer())
      throw Error(where.str() + ": field \"ranking\" must hold integer indices (or lists of tied indices)");
    long long i = v.get<long long>();
    if (i < 0 || i >= static_cast<long long>(k))
      throw Error(where.str() + ": ranking is not a permutation of 0.." + std::to_string(k - 1) + ": index " +
                  std::to_string(i) + " is out of range");
    if (g.level[i] >= 0)
      throw Error(where.str() + ": ranking is not a permutation of 0.." + std::to_string(k - 1) + ": index " +
                  std::to_string(i) + " appears twice");
    g.level[i] = lvl;
  };
  for (const auto& item : ranking) {
    if (item.is_array()) {
      if (item.empty()) throw Error(where.str() + ": ranking has an empty tie group");
      for (const auto& v : item) place(v);
    } else {
      place(item);
    }
    ++lvl;
  }
  for (size_t i = 0; i < k; ++i)
    if (g.level[i] < 0)
      throw Error(where.str() + ": ranking is not a permutation of 0.." + std::to_string(k - 1) + ": index " +
                  std::to_string(i) + " is missing");
  read_common(r, where, g);
  read_gold(r, where, g, false);
}

void parse_hh(const io::json& r, const io::Where& where, PreferenceGroup& g) {
  g.format = "hh";
  const std::string& c = io::get_string(r, "chosen", where);
  const std::string& rj = io::get_string(r, "rejected", where);
  HhPair p;
  try {
    p = split_hh_pair(c, rj);
  } catch (const Error& e) {
    throw Skip{std::string("HH transcript: ") + e.what()};
  }
  g.prompt = p.prompt;
  g.responses = {p.chosen, p.rejected};
  g.level = {0, 1};
  if (p.chosen == p.rejected) throw Skip{"chosen == rejected"};
  read_common(r, where, g);
}

std::string fields_of(const io::json& r) {
  std::string s;
  for (auto it = r.begin(); it != r.end(); ++it) s += (s.empty() ? "" : ", ") + it.key();
  return s.empty() ? "none" : s;
}
}  // namespace

bool PreferenceGroup::has_strict_pair() const {
  for (size_t i = 0; i < level.size(); ++i)
    for (size_t j = i + 1; j < level.size(); ++j)
      if (level[i] != level[j]) return true;
  return false;
}

int64_t SkipReport::total() const {
  int64_t t = 0;
  for (const auto& [k, v] : count) t += v;
  return t;
}

void SkipReport::add(const std::string& reason, const std::string& where) {
  if (!count[reason]++) first[reason] = where;
}

void SkipReport::merge(const SkipReport& other) {
  for (const auto& [k, v] : other.count) {
    if (!count.count(k)) first[k] = other.first.at(k);
    count[k] += v;
  }
}

std::string SkipReport::summary() const {
  if (count.empty()) return "";
  std::ostringstream os;
  os << "skipped " << total() << " record" << (total() == 1 ? "" : "s") << ":";
  bool firstItem = true;
  for (const auto& [k, v] : count) {
    os << (firstItem ? " " : ", ") << v << " " << k << " (first at " << first.at(k) << ")";
    firstItem = false;
  }
  return os.str();
}

std::pair<std::string, std::string> split_hh_transcript(const std::string& t) {
  size_t a = t.rfind(kAssistant);
  if (a == std::string::npos)
    throw Error("transcript has no \"\\n\\nAssistant:\" turn (HH-RLHF transcripts end in an assistant turn)");
  size_t h = t.find(kHuman, a + kAssistant.size());
  if (h != std::string::npos)
    throw Error("transcript does not end in an assistant turn (a \"\\n\\nHuman:\" turn follows the last "
                "\"\\n\\nAssistant:\")");
  size_t cut = a + kAssistant.size();
  return {t.substr(0, cut), t.substr(cut)};
}

HhPair split_hh_pair(const std::string& chosen, const std::string& rejected) {
  std::pair<std::string, std::string> c, r;
  try {
    c = split_hh_transcript(chosen);
  } catch (const Error& e) {
    throw Error(std::string("\"chosen\" ") + e.what());
  }
  try {
    r = split_hh_transcript(rejected);
  } catch (const Error& e) {
    throw Error(std::string("\"rejected\" ") + e.what());
  }
  if (c.first != r.first) {
    size_t n = 0;
    while (n < c.first.size() && n < r.first.size() && c.first[n] == r.first[n]) ++n;
    throw Error("the two transcripts differ before their final assistant turn (at character " + std::to_string(n) +
                ")");
  }
  return {c.first, c.second, r.second};
}

bool parse_preference_record(const io::json& r, const io::Where& where, const PreferenceReadOptions& opts,
                             PreferenceGroup& out, std::string& skip_reason) {
  if (!r.is_object()) throw Error(where.str() + ": expected a JSON object");
  out = PreferenceGroup{};
  try {
    if (r.contains("responses") || r.contains("ranking")) {
      parse_ranking(r, where, out);
    } else if (r.contains("chosen") && r.contains("rejected")) {
      if (r.contains("prompt"))
        parse_pair(r, where, out);
      else
        parse_hh(r, where, out);
    } else {
      throw Error(where.str() + ": unknown preference record format (fields: " + fields_of(r) +
                  "); expected {\"prompt\", \"chosen\", \"rejected\"}, {\"prompt\", \"responses\", \"ranking\"} or "
                  "HH-RLHF {\"chosen\", \"rejected\"} transcripts");
    }
    check_responses(out);
  } catch (const Skip& s) {
    if (opts.strict) throw Error(where.str() + ": " + s.reason + " (drop the record, or read without --strict to skip it)");
    skip_reason = s.reason;
    return false;
  }
  return true;
}

PreferenceSet read_preferences(const std::string& path, const PreferenceReadOptions& opts) {
  PreferenceSet set;
  io::for_each_jsonl(path, [&](const io::json& r, const io::Where& where) {
    PreferenceGroup g;
    std::string reason;
    if (parse_preference_record(r, where, opts, g, reason))
      set.groups.push_back(std::move(g));
    else
      set.skipped.add(reason.rfind("HH transcript:", 0) == 0 ? reason.substr(0, reason.find(" (")) : reason,
                      where.str());
  });
  return set;
}

PreferenceSet read_preferences(const std::vector<std::string>& paths, const PreferenceReadOptions& opts) {
  PreferenceSet all;
  for (const auto& p : paths) {
    PreferenceSet s = read_preferences(p, opts);
    all.groups.insert(all.groups.end(), std::make_move_iterator(s.groups.begin()),
                      std::make_move_iterator(s.groups.end()));
    all.skipped.merge(s.skipped);
  }
  return all;
}

io::json preference_to_json(const PreferenceGroup& g) {
  io::json j;
  j["prompt"] = g.prompt;
  bool pair = g.responses.size() == 2;
  if (pair) {
    bool swap = g.level[1] < g.level[0];
    j["chosen"] = g.responses[swap ? 1 : 0];
    j["rejected"] = g.responses[swap ? 0 : 1];
    if (g.level[0] == g.level[1]) j["tie"] = true;
    if (!g.gold.empty()) j["gold"] = swap ? std::vector<double>{g.gold[1], g.gold[0]} : g.gold;
  } else {
    j["responses"] = g.responses;
    int max_level = *std::max_element(g.level.begin(), g.level.end());
    io::json ranking = io::json::array();
    for (int l = 0; l <= max_level; ++l) {
      std::vector<int> at;
      for (size_t i = 0; i < g.level.size(); ++i)
        if (g.level[i] == l) at.push_back(static_cast<int>(i));
      if (at.size() == 1)
        ranking.push_back(at[0]);
      else if (!at.empty())
        ranking.push_back(at);
    }
    j["ranking"] = ranking;
    if (!g.gold.empty()) j["gold"] = g.gold;
  }
  if (g.margin != 0.0) j["margin"] = g.margin;
  if (!g.annotator.empty()) j["annotator"] = g.annotator;
  return j;
}

void write_preferences(const std::string& path, const std::vector<PreferenceGroup>& groups) {
  std::string out;
  // Invalid UTF-8 (a byte-level model's partial characters) becomes U+FFFD rather than an exception.
  for (const auto& g : groups)
    out += preference_to_json(g).dump(-1, ' ', false, io::json::error_handler_t::replace) + "\n";
  io::write_file_atomic(path, out);
}

}  // namespace rlhf::data
