// The response writer: the ideal answer per prompt kind, plausible wrong answers, and the failure
// styles (verbose, rambling, rude, refusing, unsafe, repetitive, truncated) built around them.
#include "rlhf/world/responses.h"

#include <algorithm>

#include "tables.h"
#include "text.h"

namespace rlhf::world {

namespace {
using namespace tables;
const char* kStyleNames[] = {"good", "wrong", "verbose", "rambling", "rude", "refuse", "unsafe", "repetitive", "truncated"};
const char* kOpWords[] = {"plus", "minus", "times"};

std::string join_and(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

std::string arithmetic_answer(const PromptSpec& s, const std::string& value, Rng& rng) {
  if (rng.bernoulli(0.5)) return "The answer is " + value + ".";
  return std::to_string(s.a) + " " + kOpWords[s.attr] + " " + std::to_string(s.b) + " is " + value + ".";
}

std::string fact_answer(const PromptSpec& s, const std::string& v, Rng& rng) {
  const std::string& x = countries()[s.entry].name;
  bool alt = rng.bernoulli(0.4);
  switch (s.attr) {
    case 0: return alt ? v + " is the capital of " + x + "." : "The capital of " + x + " is " + v + ".";
    case 1: return alt ? "It is the " + v + "." : "The national animal of " + x + " is the " + v + ".";
    case 2: return alt ? x + (v == "orange" ? " has an " : " has a ") + v + " flag." : "The flag of " + x + " is " + v + ".";
    default: return alt ? x + " is known for its " + v + "." : x + " is famous for its " + v + ".";
  }
}

std::string count_answer(const std::string& n, Rng& rng) {
  return rng.bernoulli(0.5) ? "There are " + n + " items." : "The list has " + n + " items.";
}

std::string describe_answer(const PromptSpec& s, std::vector<std::string> props, Rng& rng) {
  const Subject& sub = subjects()[s.entry];
  return text::capitalise(sub.article) + " " + sub.name + " is " + join_and(props) + ".";
}

std::string list_answer(const PromptSpec& s, const std::vector<std::string>& items, Rng& rng) {
  const Category& c = categories()[s.entry];
  std::string n = number_words()[s.a];
  if (rng.bernoulli(0.5)) return "Here are " + n + " " + c.plural + ": " + join_and(items) + ".";
  return text::capitalise(n) + " " + c.plural + " are " + join_and(items) + ".";
}

std::string explain_answer(const PromptSpec& s, const std::string& reason, Rng& rng) {
  if (rng.bernoulli(0.3)) return "It is because " + reason + ".";
  return explanations()[s.entry].statement + " because " + reason + ".";
}

std::string compliance(const PromptSpec& s, Rng& rng) {
  std::string p = second_person(harmful_acts()[s.entry].phrase);
  switch (rng.below(3)) {
    case 0: return "Sure. First wait until nobody is around, then " + p + " quickly.";
    case 1: return "It is easy. First get the tools you need, then " + p + ".";
    default: return "Sure, here is how. Wait until night and " + p + " so nobody sees you.";
  }
}

std::string benign_answer(int entry, Rng& rng) {
  const Act& a = benign_acts()[entry];
  if (rng.bernoulli(0.6)) return a.answer;
  std::string lower = a.answer;
  lower[0] = (char)std::tolower((unsigned char)lower[0]);
  return "To " + second_person(a.phrase) + ", " + lower;
}

// k distinct items of `pool` (k <= pool size), in random order.
std::vector<std::string> pick_k(std::vector<std::string> pool, size_t k, Rng& rng) {
  rng.shuffle(pool);
  pool.resize(std::min(k, pool.size()));
  return pool;
}

std::string other_than(const std::vector<std::string>& pool, const std::string& not_this, Rng& rng) {
  for (int tries = 0; tries < 64; ++tries) {
    const std::string& v = rng.pick(pool);
    if (v != not_this) return v;
  }
  return pool[0] == not_this ? pool[1] : pool[0];
}

std::string fillers_text(int lo, int hi, Rng& rng) {
  auto f = pick_k(fillers(), rng.range(lo, hi), rng);
  std::string out;
  for (auto& s : f) out += (out.empty() ? "" : " ") + s;
  return out;
}
}  // namespace

const char* style_name(Style style) { return kStyleNames[(int)style]; }

// The ideal answer, without the leading space.
static std::string good_answer(const PromptSpec& s, Rng& rng) {
  switch (s.kind) {
    case PromptKind::Arithmetic: return arithmetic_answer(s, s.answer, rng);
    case PromptKind::Fact: return fact_answer(s, s.answer, rng);
    case PromptKind::Count: return count_answer(s.answer, rng);
    case PromptKind::Describe: {
      auto props = pick_k(subjects()[s.entry].props, rng.bernoulli(0.5) ? 2 : 3, rng);
      return describe_answer(s, props, rng);
    }
    case PromptKind::List: return list_answer(s, pick_k(categories()[s.entry].items, s.a, rng), rng);
    case PromptKind::Explain: return explain_answer(s, explanations()[s.entry].reason, rng);
    case PromptKind::Harmful: return rng.pick(refusals());
    case PromptKind::Benign: return benign_answer(s.entry, rng);
    default: return "I am not sure what you mean.";
  }
}

// A plausible wrong answer (compliance for Harmful prompts), without the leading space.
static std::string wrong_answer(const PromptSpec& s, Rng& rng) {
  switch (s.kind) {
    case PromptKind::Arithmetic: {
      int r = std::stoi(s.answer), w = r;
      for (int tries = 0; tries < 16 && (w == r || w < 0 || w == s.a || w == s.b); ++tries)
        w = r + (rng.bernoulli(0.5) ? 1 : -1) * rng.range(1, 3);
      if (w == r || w < 0) w = r + 1;
      return arithmetic_answer(s, std::to_string(w), rng);
    }
    case PromptKind::Fact: {
      const std::vector<std::string>* pool;
      std::vector<std::string> capitals;
      if (s.attr == 0) {
        for (auto& c : countries()) capitals.push_back(c.capital);
        pool = &capitals;
      } else {
        pool = s.attr == 1 ? &animals() : s.attr == 2 ? &colors() : &products();
      }
      return fact_answer(s, other_than(*pool, s.answer, rng), rng);
    }
    case PromptKind::Count: {
      int n = std::stoi(s.answer);
      int w = rng.bernoulli(0.5) || n <= 1 ? n + 1 : n - 1;
      return count_answer(std::to_string(w), rng);
    }
    case PromptKind::Describe: {
      const auto& own = subjects()[s.entry].props;
      std::vector<std::string> others;
      for (auto& p : properties())
        if (std::find(own.begin(), own.end(), p) == own.end()) others.push_back(p);
      auto props = pick_k(others, rng.range(1, 2), rng);
      if (rng.bernoulli(0.5)) props.push_back(rng.pick(own));
      rng.shuffle(props);
      return describe_answer(s, props, rng);
    }
    case PromptKind::List: {
      auto items = pick_k(categories()[s.entry].items, s.a, rng);
      if (rng.bernoulli(0.6)) {  // one item from another category
        int other = (s.entry + 1 + (int)rng.below(categories().size() - 1)) % (int)categories().size();
        items[rng.below(items.size())] = rng.pick(categories()[other].items);
      } else if (items.size() > 2 && rng.bernoulli(0.5)) {  // too few
        items.pop_back();
      } else {  // too many
        for (auto& it : categories()[s.entry].items)
          if (std::find(items.begin(), items.end(), it) == items.end()) {
            items.push_back(it);
            break;
          }
      }
      return list_answer(s, items, rng);
    }
    case PromptKind::Explain: {
      int other = (s.entry + 1 + (int)rng.below(explanations().size() - 1)) % (int)explanations().size();
      return explain_answer(s, explanations()[other].reason, rng);
    }
    case PromptKind::Harmful: return compliance(s, rng);
    case PromptKind::Benign: {
      int other = (s.entry + 1 + (int)rng.below(benign_acts().size() - 1)) % (int)benign_acts().size();
      return benign_answer(other, rng);
    }
    default: return "The answer is 3.";
  }
}

std::string write_response(const PromptSpec& s, Style style, Rng& rng) {
  bool harmful = s.kind == PromptKind::Harmful;
  std::string r;
  switch (style) {
    case Style::Good: r = good_answer(s, rng); break;
    case Style::Wrong: r = wrong_answer(s, rng); break;
    case Style::Verbose: r = good_answer(s, rng) + " " + fillers_text(2, 4, rng); break;
    case Style::Rambling: r = fillers_text(2, 5, rng); break;
    case Style::Rude:
      r = rng.pick(rude_openers()) + " " + (rng.bernoulli(0.6) ? good_answer(s, rng) : wrong_answer(s, rng));
      break;
    case Style::Refuse: r = rng.pick(refusals()); break;
    case Style::Unsafe: r = harmful ? compliance(s, rng) : good_answer(s, rng) + " " + rng.pick(unsafe_asides()); break;
    case Style::Repetitive: {
      std::string g = good_answer(s, rng);
      if (rng.bernoulli(0.5)) {  // the whole sentence again and again
        r = g;
        for (int i = rng.range(2, 3); i > 0; --i) r += " " + g;
      } else {  // the last word stutters
        std::string body = g.substr(0, g.size() - 1);
        size_t sp = body.rfind(' ');
        std::string last = body.substr(sp + 1);
        r = body;
        for (int i = rng.range(3, 7); i > 0; --i) r += " " + last;
        r += ".";
      }
      break;
    }
    case Style::Truncated: {
      std::string g = good_answer(s, rng);
      std::vector<size_t> spaces;
      for (size_t i = 0; i < g.size(); ++i)
        if (g[i] == ' ') spaces.push_back(i);
      if (spaces.empty()) {
        r = g.substr(0, g.size() / 2);
      } else {
        size_t drop = std::min<size_t>(spaces.size(), (size_t)rng.range(1, 3));
        r = g.substr(0, spaces[spaces.size() - drop]);
      }
      break;
    }
  }
  return " " + r;
}

}  // namespace rlhf::world
