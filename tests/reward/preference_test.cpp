// Preference readers: the HH-RLHF splitter on tricky transcripts, every record layout, and the
// bad-input policy (errors naming FILE:LINE, or counted skips).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "rlhf/data/preference.h"
#include "rlhf/io/error.h"

using namespace rlhf::data;

namespace {
std::string write_tmp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const rlhf::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(HhSplit, SingleTurn) {
  auto [p, r] = split_hh_transcript("\n\nHuman: Hi there\n\nAssistant: Hello!");
  EXPECT_EQ(p, "\n\nHuman: Hi there\n\nAssistant:");
  EXPECT_EQ(r, " Hello!");
}

TEST(HhSplit, MultiTurnKeepsWholeDialoguePrefix) {
  std::string prefix = "\n\nHuman: a?\n\nAssistant: b.\n\nHuman: c?\n\nAssistant:";
  auto pair = split_hh_pair(prefix + " yes", prefix + " no, I can't");
  EXPECT_EQ(pair.prompt, prefix);
  EXPECT_EQ(pair.chosen, " yes");
  EXPECT_EQ(pair.rejected, " no, I can't");
}

TEST(HhSplit, IdenticalPrefixesWithSharedResponseStart) {
  // The two answers share their first words: the cut is still at the final assistant marker,
  // not at the end of the common prefix.
  std::string prefix = "\n\nHuman: name a fruit\n\nAssistant:";
  auto pair = split_hh_pair(prefix + " An apple.", prefix + " An onion.");
  EXPECT_EQ(pair.prompt, prefix);
  EXPECT_EQ(pair.chosen, " An apple.");
  EXPECT_EQ(pair.rejected, " An onion.");
}

TEST(HhSplit, TranscriptEndingInHumanTurnIsAClearError) {
  std::string msg = error_of([] { split_hh_transcript("\n\nHuman: a\n\nAssistant: b\n\nHuman: c"); });
  EXPECT_NE(msg.find("does not end in an assistant turn"), std::string::npos) << msg;
  msg = error_of([] { split_hh_transcript("\n\nHuman: only a question"); });
  EXPECT_NE(msg.find("no \"\\n\\nAssistant:\" turn"), std::string::npos) << msg;
  msg = error_of([] { split_hh_pair("\n\nHuman: a\n\nAssistant: b", "\n\nHuman: a\n\nAssistant: b\n\nHuman: c"); });
  EXPECT_NE(msg.find("\"rejected\""), std::string::npos) << msg;
}

TEST(HhSplit, DifferentPrefixesAreAnError) {
  std::string msg = error_of([] { split_hh_pair("\n\nHuman: a\n\nAssistant: x", "\n\nHuman: b\n\nAssistant: y"); });
  EXPECT_NE(msg.find("differ before their final assistant turn (at character 9)"), std::string::npos) << msg;
}

TEST(PreferenceReader, AllLayoutsMixed) {
  std::string path = write_tmp("prefs_mixed.jsonl",
      R"({"prompt": "\n\nHuman: q\n\nAssistant:", "chosen": " a", "rejected": " b", "margin": 2, "annotator": "ann3"})" "\n"
      "\n"
      R"({"chosen": "\n\nHuman: q\n\nAssistant: good", "rejected": "\n\nHuman: q\n\nAssistant: bad"})" "\n"
      R"({"prompt": "P", "responses": [" x", " y", " z", " w"], "ranking": [2, [0, 3], 1], "gold": [1, 0, 3, 1]})" "\n"
      R"({"prompt": "P", "chosen": " s", "rejected": " t", "tie": true, "strength": 0.5, "gold": {"chosen": 0.2, "rejected": 0.1}})" "\n");
  PreferenceSet s = read_preferences(path);
  ASSERT_EQ(s.groups.size(), 4u);
  EXPECT_EQ(s.skipped.total(), 0);
  const auto& p = s.groups[0];
  EXPECT_EQ(p.format, "pair");
  EXPECT_EQ(p.responses, (std::vector<std::string>{" a", " b"}));
  EXPECT_EQ(p.level, (std::vector<int>{0, 1}));
  EXPECT_EQ(p.margin, 2.0);
  EXPECT_EQ(p.annotator, "ann3");
  EXPECT_EQ(p.where, path + ":1");
  const auto& h = s.groups[1];
  EXPECT_EQ(h.format, "hh");
  EXPECT_EQ(h.prompt, "\n\nHuman: q\n\nAssistant:");
  EXPECT_EQ(h.responses, (std::vector<std::string>{" good", " bad"}));
  EXPECT_EQ(h.where, path + ":3");  // blank line 2 is counted
  const auto& r = s.groups[2];
  EXPECT_EQ(r.level, (std::vector<int>{1, 2, 0, 1}));
  EXPECT_EQ(r.gold, (std::vector<double>{1, 0, 3, 1}));
  const auto& t = s.groups[3];
  EXPECT_EQ(t.level, (std::vector<int>{0, 0}));
  EXPECT_FALSE(t.has_strict_pair());
  EXPECT_EQ(t.margin, 0.5);
  EXPECT_EQ(t.gold, (std::vector<double>{0.2, 0.1}));
}

TEST(PreferenceReader, RoundTripThroughWriter) {
  std::string path = write_tmp("prefs_rt.jsonl",
      R"({"prompt": "P", "responses": [" x", " y", " z"], "ranking": [[2, 0], 1], "annotator": "a1"})" "\n"
      R"({"prompt": "Q", "chosen": " c", "rejected": " r", "margin": 1.5, "gold_chosen": 2, "gold_rejected": 1})" "\n");
  PreferenceSet s = read_preferences(path);
  std::string out = ::testing::TempDir() + "/prefs_rt_out.jsonl";
  write_preferences(out, s.groups);
  PreferenceSet back = read_preferences(out);
  ASSERT_EQ(back.groups.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back.groups[i].responses, s.groups[i].responses);
    EXPECT_EQ(back.groups[i].level, s.groups[i].level);
    EXPECT_EQ(back.groups[i].margin, s.groups[i].margin);
    EXPECT_EQ(back.groups[i].annotator, s.groups[i].annotator);
    EXPECT_EQ(back.groups[i].gold, s.groups[i].gold);
  }
  EXPECT_EQ(back.groups[0].level, (std::vector<int>{0, 1, 0}));
}

TEST(PreferenceReader, ContentProblemsAreCountedSkipsOrStrictErrors) {
  std::string path = write_tmp("prefs_bad.jsonl",
      R"({"prompt": "P", "chosen": " same", "rejected": " same"})" "\n"
      R"({"prompt": "P", "chosen": " ok", "rejected": "  "})" "\n"
      R"({"prompt": "P", "chosen": " ok", "rejected": " fine"})" "\n"
      R"({"chosen": "\n\nHuman: a\n\nAssistant: b\n\nHuman: c", "rejected": "\n\nHuman: a\n\nAssistant: d"})" "\n"
      R"({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: z\n\nAssistant: d"})" "\n"
      R"({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: z\n\nAssistant: d"})" "\n");
  PreferenceSet s = read_preferences(path);
  EXPECT_EQ(s.groups.size(), 1u);
  EXPECT_EQ(s.skipped.total(), 5);
  EXPECT_EQ(s.skipped.count.at("chosen == rejected"), 1);
  EXPECT_EQ(s.skipped.count.at("empty response"), 1);
  EXPECT_EQ(s.skipped.first.at("empty response"), path + ":2");
  std::string summary = s.skipped.summary();
  EXPECT_NE(summary.find("skipped 5 records"), std::string::npos) << summary;
  EXPECT_NE(summary.find("does not end in an assistant turn"), std::string::npos) << summary;
  EXPECT_NE(summary.find("2 HH transcript: the two transcripts differ"), std::string::npos) << summary;
  EXPECT_NE(summary.find(path + ":5"), std::string::npos) << summary;
  // Strict: the first problem is an error naming the file and line.
  PreferenceReadOptions strict;
  strict.strict = true;
  std::string msg = error_of([&] { read_preferences(path, strict); });
  EXPECT_NE(msg.find(path + ":1: chosen == rejected"), std::string::npos) << msg;
}

TEST(PreferenceReader, StructuralProblemsAreErrorsNamingFileAndLine) {
  auto err = [](const std::string& name, const std::string& line) {
    std::string path = write_tmp(name, R"({"prompt": "P", "chosen": " a", "rejected": " b"})" "\n" + line + "\n");
    return std::make_pair(path, error_of([&] { read_preferences(path); }));
  };
  auto [p1, m1] = err("bad_fmt.jsonl", R"({"text": "hello"})");
  EXPECT_NE(m1.find(p1 + ":2: unknown preference record format (fields: text)"), std::string::npos) << m1;
  auto [p2, m2] = err("bad_perm.jsonl", R"({"prompt": "P", "responses": [" a", " b", " c"], "ranking": [0, 0, 2]})");
  EXPECT_NE(m2.find(p2 + ":2: ranking is not a permutation of 0..2: index 0 appears twice"), std::string::npos) << m2;
  auto [p3, m3] = err("bad_perm2.jsonl", R"({"prompt": "P", "responses": [" a", " b", " c"], "ranking": [0, 1]})");
  EXPECT_NE(m3.find(p3 + ":2: ranking is not a permutation of 0..2: index 2 is missing"), std::string::npos) << m3;
  auto [p4, m4] = err("bad_perm3.jsonl", R"({"prompt": "P", "responses": [" a", " b"], "ranking": [0, 5]})");
  EXPECT_NE(m4.find(p4 + ":2: ranking is not a permutation of 0..1: index 5 is out of range"), std::string::npos) << m4;
  auto [p5, m5] = err("bad_type.jsonl", R"({"prompt": "P", "chosen": 3, "rejected": " b"})");
  EXPECT_NE(m5.find(p5 + ":2: field \"chosen\" must be a string"), std::string::npos) << m5;
  auto [p6, m6] = err("bad_json.jsonl", R"({"prompt": )");
  EXPECT_NE(m6.find(p6 + ":2: malformed JSON"), std::string::npos) << m6;
}

TEST(PreferenceReader, RealHhRlhfSampleSplits) {
  std::string path = std::string(RLHF_SHARED_DATA) + "/hh-rlhf/harmless-base/test.jsonl";
  if (!std::ifstream(path)) GTEST_SKIP() << "HH-RLHF sample not found at " << path;
  PreferenceSet s = read_preferences(path);
  // 312 lines; one record's transcripts differ before the final turn (counted, not dropped silently).
  EXPECT_EQ(static_cast<int64_t>(s.groups.size()) + s.skipped.total(), 312);
  EXPECT_GT(s.groups.size(), 300u);
  for (const auto& g : s.groups) {
    ASSERT_GE(g.prompt.size(), 12u);
    EXPECT_EQ(g.prompt.substr(g.prompt.size() - 12), "\n\nAssistant:") << g.where;
    EXPECT_NE(g.responses[0], g.responses[1]) << g.where;
  }
}
