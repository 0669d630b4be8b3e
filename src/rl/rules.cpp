// The rule language of rule-based rewards: parsing (with FILE:LINE errors) and evaluation.
#include "rlhf/rl/rules.h"

#include <cctype>
#include <sstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/world/prompts.h"

namespace rlhf::rl {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '\''; }

// A token of a rule line: a bare word/number, a "quoted string" or a /regex/flags.
struct Tok {
  enum Kind { Bare, Quoted, Regex } kind = Bare;
  std::string text, flags;
};

std::vector<Tok> split_rule(const std::string& line, const std::string& where) {
  std::vector<Tok> out;
  size_t i = 0, n = line.size();
  while (i < n) {
    char c = line[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (c == '#') break;
    Tok t;
    if (c == '"' || c == '/') {
      t.kind = c == '"' ? Tok::Quoted : Tok::Regex;
      size_t j = i + 1;
      for (; j < n && line[j] != c; ++j) {
        if (line[j] == '\\' && j + 1 < n) {
          // Keep escapes for regexes; in quoted strings \" and \\ stand for the character.
          if (t.kind == Tok::Regex && line[j + 1] != '/') t.text += '\\';
          ++j;
        }
        t.text += line[j];
      }
      if (j >= n) throw Error(where + ": unterminated " + std::string(1, c) + "..." + std::string(1, c));
      i = j + 1;
      while (i < n && std::isalpha(static_cast<unsigned char>(line[i]))) t.flags += line[i++];
    } else {
      size_t j = i;
      while (j < n && !std::isspace(static_cast<unsigned char>(line[j])) && line[j] != '#') ++j;
      t.text = line.substr(i, j - i);
      i = j;
    }
    out.push_back(t);
  }
  return out;
}

double to_number(const Tok& t, const std::string& where, const char* what) {
  try {
    size_t used = 0;
    double v = std::stod(t.text, &used);
    if (t.kind == Tok::Bare && used == t.text.size()) return v;
  } catch (const std::exception&) {
  }
  throw Error(where + ": expected " + what + " (a number), got \"" + t.text + "\"");
}

std::regex make_regex(const Tok& t, const std::string& where) {
  if (t.kind == Tok::Bare) throw Error(where + ": expected a \"string\" or /regex/, got " + t.text);
  auto flags = std::regex::ECMAScript;
  for (char f : t.flags) {
    if (f == 'i') flags |= std::regex::icase;
    else throw Error(where + ": unknown regex flag '" + std::string(1, f) + "' (allowed: i)");
  }
  try {
    if (t.kind == Tok::Regex) return std::regex(t.text, flags);
    // A quoted string matches literally: escape every regex metacharacter.
    std::string esc;
    for (char c : t.text) {
      if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) esc += '\\';
      esc += c;
    }
    return std::regex(esc, flags);
  } catch (const std::regex_error& e) {
    throw Error(where + ": bad regex /" + t.text + "/ (" + e.what() + ")");
  }
}

const char* kForms =
    "count \"word\" W | contains /re/ W | missing /re/ W | max_words N W | min_words N W | max_chars N W | "
    "refusal [when /re/] W | comply when /re/ W | unfinished W";

Rule parse_rule(const std::vector<Tok>& t, const std::string& where) {
  Rule r;
  r.where = where;
  const std::string& k = t[0].text;
  auto expect = [&](size_t n) {
    if (t.size() != n) throw Error(where + ": rule \"" + k + "\" takes " + std::to_string(n - 1) + " arguments (forms: " + kForms + ")");
  };
  if (k == "count") {
    expect(3);
    r.kind = Rule::Kind::Count;
    r.text = lower(t[1].text);
    if (r.text.empty()) throw Error(where + ": count needs a non-empty word");
  } else if (k == "contains" || k == "missing") {
    expect(3);
    r.kind = k == "contains" ? Rule::Kind::Contains : Rule::Kind::Missing;
    r.text = t[1].text;
    r.pattern = make_regex(t[1], where);
  } else if (k == "max_words" || k == "min_words" || k == "max_chars") {
    expect(3);
    r.kind = k == "max_words" ? Rule::Kind::MaxWords : k == "min_words" ? Rule::Kind::MinWords : Rule::Kind::MaxChars;
    double lim = to_number(t[1], where, "a limit");
    if (lim < 0 || lim != static_cast<int64_t>(lim)) throw Error(where + ": the limit must be a whole number >= 0");
    r.limit = static_cast<int64_t>(lim);
  } else if (k == "refusal" || k == "comply") {
    r.kind = k == "refusal" ? Rule::Kind::Refusal : Rule::Kind::Comply;
    if (t.size() == 4 && t[1].text == "when" && t[1].kind == Tok::Bare) {
      r.has_when = true;
      r.when = make_regex(t[2], where);
    } else if (!(t.size() == 2 && k == "refusal")) {
      throw Error(where + ": expected \"refusal W\", \"refusal when /re/ W\" or \"comply when /re/ W\"");
    }
  } else if (k == "unfinished") {
    expect(2);
    r.kind = Rule::Kind::Unfinished;
  } else {
    throw Error(where + ": unknown rule \"" + k + "\" (forms: " + kForms + ")");
  }
  r.weight = to_number(t.back(), where, "the weight");
  return r;
}

}  // namespace

bool is_refusal(const std::string& text) {
  static const std::regex re(
      "\\b(i|we)\\s*(can't|cannot|can not|won't|will not|am not able to|'m not able to|am unable to|'m unable to|"
      "must decline to|refuse to)\\s+(help|assist|do|provide|answer|share|give)|\\bi refuse\\b|"
      "\\b(can't|cannot|won't) (help|assist) with",
      std::regex::ECMAScript | std::regex::icase);
  return std::regex_search(text, re);
}

int64_t count_words(const std::string& text) {
  int64_t n = 0;
  bool in = false;
  for (char c : text) {
    bool sp = std::isspace(static_cast<unsigned char>(c));
    if (!sp && !in) ++n;
    in = !sp;
  }
  return n;
}

int64_t count_word(const std::string& text, const std::string& word) {
  if (word.empty()) return 0;
  std::string t = lower(text), w = lower(word);
  int64_t n = 0;
  for (size_t pos = t.find(w); pos != std::string::npos; pos = t.find(w, pos + 1)) {
    bool left = pos == 0 || !is_word_char(t[pos - 1]);
    size_t end = pos + w.size();
    bool right = end >= t.size() || !is_word_char(t[end]);
    if (left && right) ++n;
  }
  return n;
}

std::shared_ptr<RuleReward> RuleReward::parse(const std::string& text, const std::string& source) {
  auto out = std::make_shared<RuleReward>();
  std::istringstream in(text);
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    std::string where = source + ":" + std::to_string(no);
    auto toks = split_rule(line, where);
    if (toks.empty()) continue;
    out->rules_.push_back(parse_rule(toks, where));
  }
  if (out->rules_.empty()) throw Error(source + ": no rules (forms: " + std::string(kForms) + ")");
  return out;
}

std::shared_ptr<RuleReward> RuleReward::load(const std::string& path) { return parse(io::read_file(path), path); }

double RuleReward::score_one(const RewardQuery& q) const {
  double s = 0;
  for (const auto& r : rules_) {
    switch (r.kind) {
      case Rule::Kind::Count: s += r.weight * count_word(q.response, r.text); break;
      case Rule::Kind::Contains: s += std::regex_search(q.response, r.pattern) ? r.weight : 0; break;
      case Rule::Kind::Missing: s += std::regex_search(q.response, r.pattern) ? 0 : r.weight; break;
      case Rule::Kind::MaxWords: s += r.weight * std::max<int64_t>(0, count_words(q.response) - r.limit); break;
      case Rule::Kind::MinWords: s += count_words(q.response) < r.limit ? r.weight : 0; break;
      case Rule::Kind::MaxChars:
        s += r.weight * std::max<int64_t>(0, static_cast<int64_t>(q.response.size()) - r.limit);
        break;
      case Rule::Kind::Refusal:
      case Rule::Kind::Comply: {
        if (r.has_when && !std::regex_search(world::user_turn(q.prompt), r.when)) break;
        bool refused = is_refusal(q.response);
        if (refused == (r.kind == Rule::Kind::Refusal)) s += r.weight;
        break;
      }
      case Rule::Kind::Unfinished: s += q.finished ? 0 : r.weight; break;
    }
  }
  return s;
}

RewardScores RuleReward::score(const std::vector<RewardQuery>& batch) {
  RewardScores s;
  for (const auto& q : batch) s.score.push_back(score_one(q));
  s.raw = s.score;
  return s;
}

}  // namespace rlhf::rl
