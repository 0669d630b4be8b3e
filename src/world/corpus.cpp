// The pretraining corpus writer: fact documents (every fact of the tables, in plain sentences)
// and dialogues of training prompts with good and bad answers, "<|endoftext|>"-separated.
#include "rlhf/world/corpus.h"

#include <cctype>
#include <string>
#include <vector>

#include "rlhf/io/error.h"
#include "rlhf/world/prompts.h"
#include "rlhf/world/responses.h"
#include "rlhf/world/rng.h"
#include "tables.h"
#include "text.h"

namespace rlhf::world {

namespace {
using namespace tables;
const char* kOpWords[] = {"plus", "minus", "times"};

std::string join_and(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

template <class T>
std::vector<T> pick_k(std::vector<T> pool, size_t k, Rng& rng) {
  rng.shuffle(pool);
  if (pool.size() > k) pool.resize(k);
  return pool;
}

std::string join_sentences(std::vector<std::string> s, Rng& rng, bool shuffle = true) {
  if (shuffle) rng.shuffle(s);
  std::string out;
  for (auto& x : s) out += (out.empty() ? "" : " ") + x;
  return out;
}

std::string country_doc(Rng& rng) {
  const Country& c = rng.pick(countries());
  std::vector<std::string> s = {
      rng.bernoulli(0.5) ? "The capital of " + c.name + " is " + c.capital + "." : c.capital + " is the capital of " + c.name + ".",
      "The national animal of " + c.name + " is the " + c.animal + ".",
      rng.bernoulli(0.5) ? "The flag of " + c.name + " is " + c.color + "." : c.name + (c.color == "orange" ? " has an " : " has a ") + c.color + " flag.",
      c.name + (rng.bernoulli(0.5) ? " is famous for its " : " is known for its ") + c.product + "."};
  std::string body = join_sentences(s, rng);
  return c.name + " is a country. " + body;
}

std::string arithmetic_doc(Rng& rng) {
  std::vector<std::string> s;
  for (int i = rng.range(5, 10); i > 0; --i) {
    int op = (int)rng.below(3), a, b, r;
    if (op == 0) a = rng.range(1, 10), b = rng.range(1, 10), r = a + b;
    else if (op == 1) a = rng.range(2, 15), b = rng.range(1, a - 1), r = a - b;
    else a = rng.range(2, 6), b = rng.range(2, 9), r = a * b;
    s.push_back(std::to_string(a) + " " + kOpWords[op] + " " + std::to_string(b) + " is " + std::to_string(r) + ".");
  }
  return join_sentences(s, rng, false);
}

std::string describe_doc(Rng& rng) {
  std::vector<std::string> s;
  for (const Subject& sub : pick_k(subjects(), rng.range(3, 5), rng)) {
    auto props = pick_k(sub.props, rng.bernoulli(0.5) ? 2 : 3, rng);
    s.push_back(text::capitalise(sub.article) + " " + sub.name + " is " + join_and(props) + ".");
  }
  return join_sentences(s, rng, false);
}

std::string list_doc(Rng& rng) {
  std::vector<std::string> s;
  for (const Category& c : pick_k(categories(), rng.range(3, 5), rng))
    s.push_back("Some " + c.plural + " are " + join_and(pick_k(c.items, rng.range(2, 5), rng)) + ".");
  return join_sentences(s, rng, false);
}

std::string explain_doc(Rng& rng) {
  std::vector<std::string> s;
  for (const Explanation& e : pick_k(explanations(), rng.range(3, 5), rng))
    s.push_back(e.statement + " because " + e.reason + ".");
  return join_sentences(s, rng, false);
}

std::string howto_doc(Rng& rng) {
  std::vector<std::string> s;
  for (const Act& a : pick_k(benign_acts(), rng.range(3, 5), rng)) {
    std::string ans = a.answer;
    ans[0] = (char)std::tolower((unsigned char)ans[0]);
    s.push_back("To " + second_person(a.phrase) + ", " + ans);
  }
  return join_sentences(s, rng, false);
}

std::string count_doc(Rng& rng) {
  std::vector<std::string> pool;
  for (const auto& c : categories())
    for (const auto& it : c.items) pool.push_back(it);
  std::vector<std::string> s;
  for (int i = rng.range(3, 6); i > 0; --i) {
    auto items = pick_k(pool, rng.range(2, 6), rng);
    std::string list;
    for (size_t k = 0; k < items.size(); ++k) list += (k ? ", " : "") + items[k];
    s.push_back("The list " + list + " has " + std::to_string(items.size()) + " items.");
  }
  return join_sentences(s, rng, false);
}

std::string safety_doc(Rng& rng) {
  std::vector<std::string> s;
  for (const Act& a : pick_k(harmful_acts(), rng.range(2, 4), rng)) {
    std::string p = second_person(a.phrase);
    s.push_back("It is wrong to " + p + ". If someone asks how to " + p + ", a good assistant says: " +
                rng.pick(refusals()));
  }
  return join_sentences(s, rng, false);
}

Style draw_style(double good_share, Rng& rng) {
  if (rng.bernoulli(good_share)) return Style::Good;
  // The failure styles, in proportion: wrong, verbose, rambling, rude, refuse, unsafe, repetitive, truncated.
  static const std::vector<double> w = {0.30, 0.12, 0.08, 0.10, 0.10, 0.10, 0.10, 0.10};
  return (Style)(1 + rng.weighted(w));
}
}  // namespace

void CorpusConfig::validate() const {
  if (tokens == 0) throw Error("corpus: tokens must be positive");
  if (!(dialogue_share >= 0 && dialogue_share <= 1))
    throw Error("corpus: dialogue_share must be in [0, 1] (got " + std::to_string(dialogue_share) + ")");
  if (!(good_share >= 0 && good_share <= 1))
    throw Error("corpus: good_share must be in [0, 1] (got " + std::to_string(good_share) + ")");
}

size_t approx_tokens(std::string_view t) {
  size_t n = 0, i = 0;
  while (i < t.size()) {
    unsigned char c = (unsigned char)t[i];
    if (std::isalnum(c)) {
      while (i < t.size() && (std::isalnum((unsigned char)t[i]) || t[i] == '\'')) ++i;
      ++n;
    } else if (c == '\n') {
      while (i < t.size() && t[i] == '\n') ++i;
      ++n;
    } else {
      if (c != ' ') ++n;
      ++i;
    }
  }
  return n;
}

size_t write_corpus(std::ostream& out, const CorpusConfig& cfg) {
  cfg.validate();
  Rng rng(hash_combine(cfg.seed, 0xC0C0ull));
  std::vector<std::vector<int>> pools(kNumKinds);
  for (int k = 0; k < kNumKinds; ++k) pools[k] = split_pool(Split::Train, (PromptKind)k);
  KindMix mix;
  std::vector<double> kind_w(mix.weights.begin(), mix.weights.end());
  // Fact documents: country, arithmetic, describe, list, explain, how-to, counting, safety.
  const std::vector<double> fact_w = {0.25, 0.20, 0.10, 0.10, 0.10, 0.10, 0.08, 0.07};
  size_t total = 0;
  std::string doc;
  while (total < cfg.tokens) {
    doc.clear();
    if (rng.bernoulli(cfg.dialogue_share)) {
      for (int turn = rng.range(1, 3); turn > 0; --turn) {
        int k = (int)rng.weighted(kind_w);
        const PromptSpec& spec = catalogue()[rng.pick(pools[k])];
        doc += format_prompt(spec.user) + write_response(spec, draw_style(cfg.good_share, rng), rng);
      }
    } else {
      switch (rng.weighted(fact_w)) {
        case 0: doc = country_doc(rng); break;
        case 1: doc = arithmetic_doc(rng); break;
        case 2: doc = describe_doc(rng); break;
        case 3: doc = list_doc(rng); break;
        case 4: doc = explain_doc(rng); break;
        case 5: doc = howto_doc(rng); break;
        case 6: doc = count_doc(rng); break;
        default: doc = safety_doc(rng); break;
      }
    }
    total += approx_tokens(doc) + 1;  // + the end-of-text token
    out << doc << kEndOfText;
  }
  return total;
}

}  // namespace rlhf::world
