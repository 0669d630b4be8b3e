// Validation of API request bodies: every field's presence and type is checked, unknown fields
// are refused, and each problem becomes an ApiError(400) naming the field.
#include <set>

#include "rlhf/feedback/server.h"

namespace rlhf::feedback {
namespace {

json parse_object(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    throw ApiError(400, std::string("malformed JSON: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

void refuse_unknown(const json& j, const std::set<std::string>& allowed) {
  for (const auto& [k, v] : j.items())
    if (!allowed.count(k)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw ApiError(400, "unknown field \"" + k + "\" (allowed: " + list + ")");
    }
}

bool is_int(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

long long get_int(const json& j, const char* key) {
  if (!j.contains(key)) throw ApiError(400, std::string("missing field \"") + key + "\"");
  const json& v = j[key];
  if (!is_int(v)) throw ApiError(400, std::string("field \"") + key + "\" must be an integer");
  return v.get<long long>();
}

int get_index(const json& v, const char* what) {
  if (!is_int(v)) throw ApiError(400, std::string("\"") + what + "\" must hold integer response indices");
  long long i = v.get<long long>();
  if (i < 0 || i > 1000) throw ApiError(400, std::string("\"") + what + "\" index out of range: " + std::to_string(i));
  return int(i);
}

std::string get_string(const json& j, const char* key, size_t max_len, bool required) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) throw ApiError(400, std::string("missing field \"") + key + "\"");
    return "";
  }
  if (!j[key].is_string()) throw ApiError(400, std::string("field \"") + key + "\" must be a string");
  std::string s = j[key].get<std::string>();
  if (s.size() > max_len)
    throw ApiError(400, std::string("field \"") + key + "\" is longer than " + std::to_string(max_len) + " bytes");
  return s;
}

}  // namespace

LabelInput parse_label_request(const std::string& body) {
  json j = parse_object(body);
  refuse_unknown(j, {"task_id", "chosen", "rejected", "strength", "ranking", "flags", "rationale"});
  LabelInput in;
  long long task_id = get_int(j, "task_id");
  if (task_id <= 0) throw ApiError(400, "field \"task_id\" must be a positive task id");
  in.task_id = task_id;
  bool pair = j.contains("chosen") || j.contains("rejected") || j.contains("strength");
  bool ranking = j.contains("ranking");
  if (pair && ranking) throw ApiError(400, "give either chosen/rejected/strength (pairwise) or ranking, not both");
  if (!pair && !ranking) throw ApiError(400, "missing the answer: chosen/rejected/strength (pairwise) or ranking");
  if (pair) {
    in.kind = "pair";
    in.chosen = get_index(j.contains("chosen") ? j["chosen"] : throw ApiError(400, "missing field \"chosen\""), "chosen");
    in.rejected =
        get_index(j.contains("rejected") ? j["rejected"] : throw ApiError(400, "missing field \"rejected\""), "rejected");
    std::string s = get_string(j, "strength", 32, true);
    auto st = parse_strength(s);
    if (!st)
      throw ApiError(400, "field \"strength\" must be one of much_better, better, slightly_better, tie, both_bad (got \"" +
                              s + "\")");
    in.strength = *st;
  } else {
    in.kind = "ranking";
    const json& r = j["ranking"];
    if (!r.is_array() || r.empty()) throw ApiError(400, "field \"ranking\" must be a non-empty array of indices");
    for (const auto& item : r) {
      if (item.is_array()) {
        std::vector<int> g;
        for (const auto& x : item) g.push_back(get_index(x, "ranking"));
        in.ranking.push_back(g);
      } else {
        in.ranking.push_back({get_index(item, "ranking")});
      }
    }
  }
  if (j.contains("flags") && !j["flags"].is_null()) {
    if (!j["flags"].is_array()) throw ApiError(400, "field \"flags\" must be an array of strings");
    std::set<std::string> seen;
    for (const auto& f : j["flags"]) {
      if (!f.is_string()) throw ApiError(400, "field \"flags\" must be an array of strings");
      std::string name = f.get<std::string>();
      bool known = false;
      for (const auto& k : kFlagNames) known |= k == name;
      if (!known) throw ApiError(400, "unknown flag \"" + name + "\" (allowed: unsafe, factually_wrong, off_topic)");
      if (seen.insert(name).second) in.flags.push_back(name);
    }
  }
  in.rationale = get_string(j, "rationale", 20000, false);
  return in;
}

RatingInput parse_rating_request(const std::string& body) {
  json j = parse_object(body);
  refuse_unknown(j, {"prompt", "response", "thumbs", "rating", "model", "comment"});
  RatingInput in;
  in.prompt = get_string(j, "prompt", 100000, true);
  in.response = get_string(j, "response", 100000, true);
  in.model = get_string(j, "model", 200, false);
  in.comment = get_string(j, "comment", 20000, false);
  if (j.contains("thumbs") && !j["thumbs"].is_null()) {
    std::string t = j["thumbs"].is_string() ? j["thumbs"].get<std::string>() : "";
    if (t != "up" && t != "down") throw ApiError(400, "field \"thumbs\" must be \"up\" or \"down\"");
    in.thumbs = t == "up" ? 1 : -1;
  }
  if (j.contains("rating") && !j["rating"].is_null()) {
    long long r = get_int(j, "rating");
    if (r < 1 || r > 5) throw ApiError(400, "field \"rating\" must be an integer from 1 to 5");
    in.rating = int(r);
  }
  if (!in.thumbs && !in.rating) throw ApiError(400, "give \"thumbs\" (up/down) or \"rating\" (1-5), or both");
  return in;
}

}  // namespace rlhf::feedback
