// The prompt catalogue (templates x fact tables), the hash split, prompt parsing and sampling.
#include "rlhf/world/prompts.h"

#include <cstdio>
#include <unordered_map>

#include "rlhf/io/error.h"
#include "rlhf/world/rng.h"
#include "tables.h"
#include "text.h"

namespace rlhf::world {

namespace {
const char* kKindNames[] = {"arithmetic", "fact", "count", "describe", "list", "explain", "harmful", "benign", "unknown"};
const char* kOpWords[] = {"plus", "minus", "times"};
constexpr uint64_t kCountListSeed = 0x5EEDC0117ull;  // fixed: the catalogue never depends on --seed
constexpr int kCountLists = 500;

int apply_op(int op, int a, int b) { return op == 0 ? a + b : op == 1 ? a - b : a * b; }

PromptSpec arithmetic(int phrasing, int op, int a, int b) {
  PromptSpec s;
  s.kind = PromptKind::Arithmetic;
  std::string expr = std::to_string(a) + " " + kOpWords[op] + " " + std::to_string(b);
  s.user = (phrasing == 0 ? "What is " : "How much is ") + expr + "?";
  s.attr = op;
  s.a = a;
  s.b = b;
  s.answer = std::to_string(apply_op(op, a, b));
  return s;
}

std::string join_items(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out;
}

PromptSpec count_prompt(int phrasing, std::vector<std::string> items) {
  PromptSpec s;
  s.kind = PromptKind::Count;
  s.user = phrasing == 0 ? "How many items are in this list: " + join_items(items) + "?"
                         : "Count the items in this list: " + join_items(items) + ".";
  s.answer = std::to_string(items.size());
  s.items = std::move(items);
  return s;
}

std::string lower_first(std::string s) {
  if (!s.empty() && s.rfind("I ", 0) != 0) s[0] = (char)std::tolower((unsigned char)s[0]);
  return s;
}

std::vector<PromptSpec> build_catalogue() {
  using namespace tables;
  std::vector<PromptSpec> out;
  auto add = [&](PromptSpec s) { out.push_back(std::move(s)); };
  // Arithmetic: small numbers only, so a tiny model can learn every equation from the corpus.
  for (int ph = 0; ph < 2; ++ph) {
    for (int a = 1; a <= 10; ++a)
      for (int b = 1; b <= 10; ++b) add(arithmetic(ph, 0, a, b));
    for (int a = 2; a <= 15; ++a)
      for (int b = 1; b < a; ++b) add(arithmetic(ph, 1, a, b));
    for (int a = 2; a <= 6; ++a)
      for (int b = 2; b <= 9; ++b) add(arithmetic(ph, 2, a, b));
  }
  // Facts: four attributes of each country, two phrasings each.
  const char* fact_templates[4][2] = {{"What is the capital of ", "Which city is the capital of "},
                                      {"What is the national animal of ", "Which animal is the symbol of "},
                                      {"What color is the flag of ", "What is the color of the flag of "},
                                      {"What is @ famous for?", "What is @ known for?"}};
  for (int c = 0; c < (int)countries().size(); ++c) {
    const Country& k = countries()[c];
    const std::string answers[4] = {k.capital, k.animal, k.color, k.product};
    for (int attr = 0; attr < 4; ++attr)
      for (int ph = 0; ph < 2; ++ph) {
        PromptSpec s;
        s.kind = PromptKind::Fact;
        std::string t = fact_templates[attr][ph];
        size_t at = t.find('@');
        s.user = at == std::string::npos ? t + k.name + "?" : t.substr(0, at) + k.name + t.substr(at + 1);
        s.entry = c;
        s.attr = attr;
        s.answer = answers[attr];
        add(s);
      }
  }
  // Counting: fixed pseudo-random lists of 2..6 distinct category items.
  {
    std::vector<std::string> pool;
    for (const auto& cat : categories())
      for (const auto& it : cat.items) pool.push_back(it);
    Rng rng(kCountListSeed);
    for (int i = 0; i < kCountLists; ++i) {
      int len = rng.range(2, 6);
      std::vector<std::string> p = pool;
      rng.shuffle(p);
      p.resize(len);
      add(count_prompt(i % 2, p));
    }
  }
  // Describe.
  for (int i = 0; i < (int)subjects().size(); ++i) {
    const Subject& sub = subjects()[i];
    std::string np = sub.article + " " + sub.name;
    for (const std::string& u : {"Describe " + np + ".", "Tell me about " + np + ".", "What is " + np + " like?",
                                 "Give me a short description of " + np + "."}) {
      PromptSpec s;
      s.kind = PromptKind::Describe;
      s.user = u;
      s.entry = i;
      add(s);
    }
  }
  // List n items of a category.
  for (int i = 0; i < (int)categories().size(); ++i)
    for (int n = 2; n <= 5; ++n) {
      std::string tail = number_words()[n] + " " + categories()[i].plural + ".";
      for (const std::string& u : {"List " + tail, "Name " + tail, "Give me " + tail}) {
        PromptSpec s;
        s.kind = PromptKind::List;
        s.user = u;
        s.entry = i;
        s.a = n;
        add(s);
      }
    }
  // Explain.
  for (int i = 0; i < (int)explanations().size(); ++i) {
    const Explanation& e = explanations()[i];
    std::string st = lower_first(e.statement);
    for (const std::string& u : {e.question, "Explain briefly why " + st + ".", "Tell me why " + st + ".",
                                 "Can you explain why " + st + "?"}) {
      PromptSpec s;
      s.kind = PromptKind::Explain;
      s.user = u;
      s.entry = i;
      add(s);
    }
  }
  // Harmful requests and benign look-alikes share the templates and the verbs.
  for (int harmful = 1; harmful >= 0; --harmful) {
    const auto& acts = harmful ? harmful_acts() : benign_acts();
    for (int i = 0; i < (int)acts.size(); ++i) {
      const std::string& p = acts[i].phrase;
      for (const std::string& u : {"How do I " + p + "?", "How can I " + p + "?", "Tell me how to " + p + ".",
                                   "What is the best way to " + p + "?", "How would I " + p + "?",
                                   "Explain how to " + p + "."}) {
        PromptSpec s;
        s.kind = harmful ? PromptKind::Harmful : PromptKind::Benign;
        s.user = u;
        s.entry = i;
        add(s);
      }
    }
  }
  // Drop duplicate user turns (the random count lists could repeat one), keeping the first.
  std::vector<PromptSpec> unique;
  std::unordered_map<std::string, int> seen;
  for (auto& s : out)
    if (seen.emplace(s.user, (int)unique.size()).second) unique.push_back(std::move(s));
  return unique;
}

const std::unordered_map<std::string, int>& catalogue_index() {
  static const std::unordered_map<std::string, int> idx = [] {
    std::unordered_map<std::string, int> m;
    const auto& cat = catalogue();
    for (int i = 0; i < (int)cat.size(); ++i) m.emplace(cat[i].user, i);
    return m;
  }();
  return idx;
}

bool parse_int(const std::string& s, int& out) {
  if (s.empty() || s.size() > 6) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = std::stoi(s);
  return true;
}

std::optional<PromptSpec> parse_arithmetic(const std::string& u) {
  for (const char* lead : {"What is ", "How much is "}) {
    std::string l = lead;
    if (u.rfind(l, 0) != 0 || u.back() != '?') continue;
    std::string body = u.substr(l.size(), u.size() - l.size() - 1);
    size_t s1 = body.find(' '), s2 = body.rfind(' ');
    if (s1 == std::string::npos || s1 == s2) return std::nullopt;
    std::string op = body.substr(s1 + 1, s2 - s1 - 1);
    int a, b;
    if (!parse_int(body.substr(0, s1), a) || !parse_int(body.substr(s2 + 1), b)) return std::nullopt;
    for (int k = 0; k < 3; ++k)
      if (op == kOpWords[k]) return arithmetic(l == "What is " ? 0 : 1, k, a, b);
  }
  return std::nullopt;
}

std::optional<PromptSpec> parse_count(const std::string& u) {
  const std::string leads[2] = {"How many items are in this list: ", "Count the items in this list: "};
  for (int ph = 0; ph < 2; ++ph) {
    if (u.rfind(leads[ph], 0) != 0 || u.size() <= leads[ph].size() + 1) continue;
    std::string body = u.substr(leads[ph].size(), u.size() - leads[ph].size() - 1);
    std::vector<std::string> items;
    size_t start = 0;
    while (true) {
      size_t comma = body.find(',', start);
      std::string item = text::trim(body.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (item.empty()) return std::nullopt;
      items.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return count_prompt(ph, items);
  }
  return std::nullopt;
}
}  // namespace

const char* kind_name(PromptKind kind) { return kKindNames[(int)kind]; }

PromptKind kind_from_name(const std::string& name) {
  for (int i = 0; i <= kNumKinds; ++i)
    if (name == kKindNames[i]) return (PromptKind)i;
  std::string all;
  for (int i = 0; i < kNumKinds; ++i) all += std::string(i ? ", " : "") + kKindNames[i];
  throw Error("unknown prompt kind \"" + name + "\" (kinds: " + all + ")");
}

const char* split_name(Split split) {
  return split == Split::Train ? "train" : split == Split::Val ? "val" : "test";
}

Split split_from_name(const std::string& name) {
  if (name == "train") return Split::Train;
  if (name == "val") return Split::Val;
  if (name == "test") return Split::Test;
  throw Error("unknown split \"" + name + "\" (splits: train, val, test)");
}

Split split_of(std::string_view user) {
  uint64_t h = hash64(user, 0x5B117ull) % 100;
  return h < 80 ? Split::Train : h < 90 ? Split::Val : Split::Test;
}

const std::vector<PromptSpec>& catalogue() {
  static const std::vector<PromptSpec> cat = build_catalogue();
  return cat;
}

std::string format_prompt(std::string_view user) { return "\n\nHuman: " + std::string(user) + "\n\nAssistant:"; }

std::string user_turn(std::string_view prompt) {
  size_t h = prompt.rfind("Human:");
  if (h == std::string_view::npos) return text::trim(prompt);
  std::string_view rest = prompt.substr(h + 6);
  size_t a = rest.find("\n\nAssistant:");
  if (a == std::string_view::npos) a = rest.find("Assistant:");
  return text::trim(rest.substr(0, a));
}

const PromptSpec* find_prompt(std::string_view user) {
  const auto& idx = catalogue_index();
  auto it = idx.find(std::string(user));
  return it == idx.end() ? nullptr : &catalogue()[it->second];
}

std::optional<PromptSpec> parse_user_turn(std::string_view user) {
  if (const PromptSpec* p = find_prompt(user)) return *p;
  std::string u(user);
  if (u.empty()) return std::nullopt;
  if (auto a = parse_arithmetic(u)) return a;
  if (auto c = parse_count(u)) return c;
  return std::nullopt;
}

std::vector<int> split_pool(Split split, PromptKind kind) {
  std::vector<int> out;
  const auto& cat = catalogue();
  for (int i = 0; i < (int)cat.size(); ++i)
    if ((kind == PromptKind::Unknown || cat[i].kind == kind) && split_of(cat[i].user) == split) out.push_back(i);
  return out;
}

std::vector<WorldPrompt> sample_prompts(Split split, size_t n, uint64_t seed, const KindMix& mix) {
  std::vector<double> w(mix.weights.begin(), mix.weights.end());
  std::vector<std::vector<int>> pools(kNumKinds);
  std::vector<size_t> cursor(kNumKinds, 0);
  Rng rng(hash_combine(seed, 0x9A3B1E5ull + (uint64_t)split));
  double total = 0;
  for (int k = 0; k < kNumKinds; ++k) {
    if (w[k] < 0) throw Error("prompt mix: weight of \"" + std::string(kKindNames[k]) + "\" is negative");
    pools[k] = split_pool(split, (PromptKind)k);
    if (pools[k].empty()) w[k] = 0;
    rng.shuffle(pools[k]);
    total += w[k];
  }
  if (total <= 0) throw Error("prompt mix: every kind has weight 0");
  std::vector<WorldPrompt> out;
  out.reserve(n);
  char id[32];
  for (size_t i = 0; i < n; ++i) {
    int k = (int)rng.weighted(w);
    if (cursor[k] == pools[k].size()) {  // pool exhausted: start a new shuffled pass
      rng.shuffle(pools[k]);
      cursor[k] = 0;
    }
    int spec = pools[k][cursor[k]++];
    std::snprintf(id, sizeof id, "%s-%06zu", split_name(split), i);
    out.push_back({id, (PromptKind)k, format_prompt(catalogue()[spec].user), spec});
  }
  return out;
}

}  // namespace rlhf::world
