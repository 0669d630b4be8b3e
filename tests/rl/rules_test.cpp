// Rule-based rewards: parsing (and its errors) and scores against hand-computed values.
#include <gtest/gtest.h>

#include "rlhf/io/error.h"
#include "rlhf/rl/reward_fn.h"
#include "rlhf/rl/rules.h"

using namespace rlhf::rl;

TEST(Rules, CountsWholeWordsAnyCase) {
  EXPECT_EQ(count_word("Banana banana, bananas BANANA", "banana"), 3);
  EXPECT_EQ(count_word("", "banana"), 0);
  EXPECT_EQ(count_words("  one two\tthree\n"), 3);
}

TEST(Rules, RefusalDetection) {
  EXPECT_TRUE(is_refusal(" I can't help with that."));
  EXPECT_TRUE(is_refusal(" Sorry, I cannot assist with this request."));
  EXPECT_TRUE(is_refusal(" I won't do that."));
  EXPECT_FALSE(is_refusal(" The capital is Tarnis."));
  EXPECT_FALSE(is_refusal(" You can't miss it: it is red."));
}

TEST(Rules, ScoresEachRuleKind) {
  auto r = RuleReward::parse(
      "# toy rules\n"
      "count \"banana\" 1.0\n"
      "contains /rude|stupid/i -2   # forbidden words\n"
      "missing \".\" -0.5\n"
      "max_words 3 -0.25\n"
      "min_words 2 -1\n"
      "unfinished -1\n");
  ASSERT_EQ(r->rules().size(), 6u);
  // 2 bananas (+2), no forbidden word, has '.', 4 words (1 over 3: -0.25), >= 2 words, finished.
  EXPECT_NEAR(r->score_one({"p", " banana and banana too.", true}), 2 - 0.25, 1e-12);
  // "Stupid" (-2), no '.' (-0.5), 1 word (< 2: -1), unfinished (-1).
  EXPECT_NEAR(r->score_one({"p", " Stupid", false}), -2 - 0.5 - 1 - 1, 1e-12);
}

TEST(Rules, RefusalRulesConditionedOnThePrompt) {
  auto r = RuleReward::parse("refusal when /steal|kill/ 1\ncomply when /steal|kill/ -1\nrefusal -0.5\n");
  const std::string harmful = "\n\nHuman: How do I steal a car?\n\nAssistant:";
  const std::string benign = "\n\nHuman: What is 2 plus 2?\n\nAssistant:";
  EXPECT_NEAR(r->score_one({harmful, " I can't help with that.", true}), 1 - 0.5, 1e-12);
  EXPECT_NEAR(r->score_one({harmful, " Take the keys.", true}), -1, 1e-12);
  EXPECT_NEAR(r->score_one({benign, " I can't help with that.", true}), -0.5, 1e-12);
  EXPECT_NEAR(r->score_one({benign, " 4.", true}), 0, 1e-12);
}

TEST(Rules, ErrorsNameTheLine) {
  try {
    RuleReward::parse("count \"a\" 1\nmax_words ten -1\n", "my.rules");
    FAIL() << "expected an error";
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("my.rules:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RuleReward::parse("frobnicate 1\n"), rlhf::Error);
  EXPECT_THROW(RuleReward::parse("contains /(unclosed/ 1\n"), rlhf::Error);
  EXPECT_THROW(RuleReward::parse("# nothing\n"), rlhf::Error);
}

TEST(Rules, SumRewardWeighsComponents) {
  SumReward s;
  s.add(std::make_shared<CallbackReward>("len", [](const RewardQuery& q) { return double(q.response.size()); }), 0.5);
  s.add(RuleReward::parse("count \"x\" 1\n"), 2.0);
  auto out = s.score({{"p", " x x", true}, {"p", "", true}});
  EXPECT_NEAR(out.score[0], 0.5 * 4 + 2 * 2, 1e-12);
  EXPECT_NEAR(out.score[1], 0, 1e-12);
  ASSERT_EQ(s.last_means().size(), 2u);
  EXPECT_NEAR(s.last_means()[1].second, 1.0, 1e-12);  // mean of {2, 0}
}

TEST(Rules, ExampleFileParses) {
  auto r = RuleReward::load(std::string(RLHF_SOURCE_DIR) + "/configs/rules/example.rules");
  EXPECT_EQ(r->rules().size(), 5u);
  const std::string harmful = "\n\nHuman: How do I poison a well?\n\nAssistant:";
  EXPECT_NEAR(r->score_one({harmful, " I can't help with that.", true}), 1.0, 1e-12);
  EXPECT_NEAR(r->score_one({harmful, " Use this.", false}), -1.0 - 0.5, 1e-12);
}
