// Corpus and demonstrations: size, separators, same seed -> same bytes, facts all present, a mix
// of good and bad answers (measured by the judge), demo failure rates, training split only.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "rlhf/io/error.h"
#include "rlhf/world/world.h"

using namespace rlhf::world;

namespace {
std::string corpus(size_t tokens, uint64_t seed) {
  std::ostringstream out;
  CorpusConfig cfg;
  cfg.tokens = tokens;
  cfg.seed = seed;
  write_corpus(out, cfg);
  return out.str();
}

std::vector<std::string> documents(const std::string& text) {
  std::vector<std::string> docs;
  const std::string eot = kEndOfText;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(eot, start);
    EXPECT_NE(end, std::string::npos) << "the corpus must end with " << eot;
    if (end == std::string::npos) break;
    docs.push_back(text.substr(start, end - start));
    start = end + eot.size();
  }
  return docs;
}
}  // namespace

TEST(Corpus, ApproxTokensByHand) {
  // Hello , world ! \n\n Human : 7 plus 5 . -> 11
  EXPECT_EQ(approx_tokens("Hello, world!\n\nHuman: 7 plus 5."), 11u);
  EXPECT_EQ(approx_tokens("can't"), 1u);
  EXPECT_EQ(approx_tokens(""), 0u);
}

TEST(Corpus, SizeSeparatorsAndSeed) {
  std::string a = corpus(50000, 1), b = corpus(50000, 1), c = corpus(50000, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Documents plus one token per separator; documents are short, so the overshoot is small.
  auto docs = documents(a);
  size_t n = docs.size();
  for (const auto& d : docs) n += approx_tokens(d);
  EXPECT_GE(n, 50000u);
  EXPECT_LE(n, 50400u);
  ASSERT_GT(docs.size(), 300u);
  size_t dialogues = 0;
  for (const auto& d : docs) {
    ASSERT_FALSE(d.empty());
    if (d.rfind("\n\nHuman: ", 0) == 0) {
      ++dialogues;
      EXPECT_NE(d.find("\n\nAssistant: "), std::string::npos);
    }
  }
  EXPECT_NEAR((double)dialogues / docs.size(), 0.65, 0.05);
  CorpusConfig bad;
  bad.good_share = 2;
  std::ostringstream sink;
  EXPECT_THROW(write_corpus(sink, bad), rlhf::Error);
}

TEST(Corpus, StatesEveryCapitalAndEveryReason) {
  std::string text = corpus(400000, 0);
  for (const auto& spec : catalogue()) {
    if (spec.kind == PromptKind::Fact && spec.attr == 0) {
      std::string country = spec.user.substr(spec.user.rfind(' ') + 1);
      country.pop_back();  // '?'
      bool stated = text.find("The capital of " + country + " is " + spec.answer + ".") != std::string::npos ||
                    text.find(spec.answer + " is the capital of " + country + ".") != std::string::npos;
      EXPECT_TRUE(stated) << country;
    }
  }
  for (const char* s : {"Ice melts because it gets warm.", "3 plus 4 is 7.", "6 times 4 is 24."})
    EXPECT_NE(text.find(s), std::string::npos) << s;
}

TEST(Corpus, DialoguesMixGoodAndBadAnswers) {
  auto docs = documents(corpus(60000, 3));
  int n = 0, good = 0, bad = 0, unsafe_or_refusing = 0;
  for (const auto& d : docs) {
    size_t at = 0;
    while ((at = d.find("\n\nHuman: ", at)) != std::string::npos) {
      size_t a = d.find("\n\nAssistant:", at);
      size_t next = d.find("\n\nHuman: ", a);
      std::string prompt = d.substr(at, a + 12 - at);
      std::string response = d.substr(a + 12, next == std::string::npos ? std::string::npos : next - a - 12);
      JudgeScores s = judge(prompt, response);
      ++n;
      good += s.gold > 0.99;
      bad += s.gold < 0.5;
      unsafe_or_refusing += s.harmless < 0;
      at = a;
    }
  }
  ASSERT_GT(n, 500);
  EXPECT_NEAR((double)good / n, 0.45, 0.06);
  EXPECT_GT((double)bad / n, 0.20);
  EXPECT_GT((double)unsafe_or_refusing / n, 0.05);
}

TEST(Demos, RatesTrainingSplitAndSeed) {
  DemoConfig cfg;
  cfg.n = 4000;
  cfg.seed = 4;
  auto demos = make_demos(cfg);
  ASSERT_EQ(demos.size(), 4000u);
  int checkable = 0, wrong = 0, harmful = 0, complied = 0, benign = 0, refused = 0, good = 0;
  double gold = 0;
  for (const auto& d : demos) {
    EXPECT_EQ(split_of(user_turn(d.prompt)), Split::Train) << d.prompt;
    JudgeScores s = judge(d.prompt, d.response);  // the judge measures the rates independently
    gold += s.gold;
    good += s.gold > 0.99;
    if (d.kind == PromptKind::Arithmetic || d.kind == PromptKind::Fact || d.kind == PromptKind::Count) {
      ++checkable;
      wrong += s.helpful == -1.0;
    } else if (d.kind == PromptKind::Harmful) {
      ++harmful;
      complied += s.harmless == -1.0;
    } else if (d.kind == PromptKind::Benign) {
      ++benign;
      refused += s.harmless == -1.0;
    }
  }
  EXPECT_NEAR((double)wrong / checkable, cfg.wrong_rate, 0.025);
  EXPECT_NEAR((double)complied / harmful, cfg.unsafe_rate, 0.04);
  EXPECT_NEAR((double)refused / benign, cfg.over_refusal_rate, 0.05);
  EXPECT_GT(gold / demos.size(), 0.75);          // mostly good ...
  EXPECT_LT((double)good / demos.size(), 0.85);  // ... but with room to improve
  auto again = make_demos(cfg);
  for (size_t i = 0; i < demos.size(); ++i) ASSERT_EQ(demos[i].response, again[i].response);
  cfg.over_refusal_rate = 1.5;
  EXPECT_THROW(make_demos(cfg), rlhf::Error);
}

TEST(Responses, GoodResponsesAreShort) {
  Rng rng(2);
  for (const auto& spec : catalogue()) {
    std::string r = write_response(spec, Style::Good, rng);
    ASSERT_EQ(r[0], ' ');
    EXPECT_LT(approx_tokens(r), 40u) << r;
  }
}
