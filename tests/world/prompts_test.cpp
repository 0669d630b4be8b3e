// Prompt catalogue and splits: disjointness, stable hash split, seeded sampling, the dialogue
// format, and that the judge recovers each prompt's kind from its text alone.
#include "rlhf/world/prompts.h"

#include <gtest/gtest.h>

#include <set>

#include "rlhf/io/error.h"
#include "world/text.h"

using namespace rlhf::world;

TEST(Prompts, SplitsAreDisjointAndCoverTheCatalogue) {
  std::set<std::string> seen[3];
  size_t total = 0;
  for (int s = 0; s < 3; ++s)
    for (int i : split_pool((Split)s)) {
      seen[s].insert(catalogue()[i].user);
      ++total;
    }
  EXPECT_EQ(total, catalogue().size());
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      for (const auto& u : seen[a]) EXPECT_EQ(seen[b].count(u), 0u) << u;
  // Roughly 80/10/10.
  double n = (double)catalogue().size();
  EXPECT_NEAR(seen[0].size() / n, 0.80, 0.04);
  EXPECT_NEAR(seen[1].size() / n, 0.10, 0.03);
  EXPECT_NEAR(seen[2].size() / n, 0.10, 0.03);
}

TEST(Prompts, EveryKindInEverySplit) {
  for (int k = 0; k < kNumKinds; ++k)
    for (int s = 0; s < 3; ++s)
      EXPECT_GE(split_pool((Split)s, (PromptKind)k).size(), 4u) << kind_name((PromptKind)k) << " " << split_name((Split)s);
}

TEST(Prompts, SampledSplitsNeverOverlapWhateverTheSeed) {
  std::set<std::string> train;
  for (uint64_t seed : {0, 1, 2})
    for (const auto& p : sample_prompts(Split::Train, 3000, seed)) train.insert(p.prompt);
  for (Split s : {Split::Val, Split::Test})
    for (uint64_t seed : {0, 7})
      for (const auto& p : sample_prompts(s, 500, seed)) EXPECT_EQ(train.count(p.prompt), 0u) << p.prompt;
}

TEST(Prompts, SameSeedSameSampleDifferentSeedDifferent) {
  auto a = sample_prompts(Split::Train, 200, 42), b = sample_prompts(Split::Train, 200, 42);
  auto c = sample_prompts(Split::Train, 200, 43);
  ASSERT_EQ(a.size(), 200u);
  int differ = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    EXPECT_EQ(a[i].id, b[i].id);
    differ += a[i].prompt != c[i].prompt;
  }
  EXPECT_GT(differ, 100);
  EXPECT_EQ(a[7].id, "train-000007");
}

TEST(Prompts, NoRepeatUntilAKindIsExhausted) {
  auto ps = sample_prompts(Split::Test, 40, 5);
  std::set<std::string> distinct;
  for (const auto& p : ps) distinct.insert(p.prompt);
  EXPECT_EQ(distinct.size(), ps.size());  // 40 prompts from >= 4 per kind and 150+ in all
}

TEST(Prompts, KindMixIsFollowed) {
  KindMix only_facts;
  only_facts.weights.fill(0);
  only_facts.weights[(int)PromptKind::Fact] = 1;
  for (const auto& p : sample_prompts(Split::Val, 50, 1, only_facts)) EXPECT_EQ(p.kind, PromptKind::Fact);
  KindMix none;
  none.weights.fill(0);
  EXPECT_THROW(sample_prompts(Split::Val, 5, 1, none), rlhf::Error);
}

TEST(Prompts, DialogueFormatAndShortPrompts) {
  for (const auto& p : sample_prompts(Split::Train, 500, 9)) {
    ASSERT_EQ(p.prompt.rfind("\n\nHuman: ", 0), 0u);
    ASSERT_EQ(p.prompt.substr(p.prompt.size() - 12), "\n\nAssistant:");
    EXPECT_LT(rlhf::world::text::words(p.prompt).size(), 40u) << p.prompt;
  }
}

TEST(Prompts, TheTextAloneGivesBackTheKind) {
  for (const auto& spec : catalogue()) {
    auto parsed = parse_user_turn(user_turn(format_prompt(spec.user)));
    ASSERT_TRUE(parsed.has_value()) << spec.user;
    EXPECT_EQ(parsed->kind, spec.kind);
    EXPECT_EQ(parsed->answer, spec.answer);
  }
  auto out_of_table = parse_user_turn("How much is 23 times 3?");
  ASSERT_TRUE(out_of_table.has_value());
  EXPECT_EQ(out_of_table->answer, "69");
  auto count = parse_user_turn("How many items are in this list: a, b, c, d?");
  ASSERT_TRUE(count.has_value());
  EXPECT_EQ(count->answer, "4");
  EXPECT_FALSE(parse_user_turn("Write me a poem.").has_value());
}

TEST(Prompts, SplitOfIsAFixedFunctionOfTheText) {
  // The split depends on the text only: the same text gives the same split every time, and
  // re-deriving it from a sampled prompt's user turn agrees with the pool it came from.
  for (const auto& p : sample_prompts(Split::Val, 50, 3)) EXPECT_EQ(split_of(user_turn(p.prompt)), Split::Val);
  EXPECT_EQ(split_from_name("test"), Split::Test);
  EXPECT_THROW(split_from_name("dev"), rlhf::Error);
  EXPECT_THROW(kind_from_name("poem"), rlhf::Error);
}
