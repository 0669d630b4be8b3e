// SFT data: response-only loss masks checked by hand, chat-template rendering, padding, bad-input
// errors naming FILE:LINE, counted skips; corpus packing; the seeded sampler.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "data/byte_tokenizer.h"
#include "rlhf/data/chat_template.h"
#include "rlhf/data/lm_batch.h"
#include "rlhf/data/sampler.h"
#include "rlhf/data/sft_dataset.h"
#include "rlhf/data/text_corpus.h"
#include "rlhf/io/error.h"

using namespace rlhf;
using namespace rlhf::data;

static std::string write_temp(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / ("rlhf_data_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto p = (dir / name).string();
  std::ofstream(p) << text;
  return p;
}

TEST(SftMask, LossOnlyOnResponseTokensAndEos) {
  rlhf::testing::ByteTokenizer tok;
  // Prompt "Q:" (2 ids), response " ab" (3 ids), then EOS.
  auto ds = tokenize_sft({sft_record("Q:", " ab")}, tok, 64, "t");
  ASSERT_EQ(ds.examples.size(), 1u);
  const auto& ex = ds.examples[0];
  EXPECT_EQ(ex.ids, (std::vector<int64_t>{'Q', ':', ' ', 'a', 'b', 256}));
  auto b = collate_padded({&ex}, 0);
  // Inputs are ids[0..5); labels[t] = ids[t+1] where ids[t+1] is a response token or EOS.
  EXPECT_TRUE(torch::equal(b.input_ids, torch::tensor({{'Q', ':', ' ', 'a', 'b'}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.labels, torch::tensor({{-100, ' ', 'a', 'b', 256}}, torch::kInt64)));
  EXPECT_EQ(b.loss_tokens(), 4);  // " ", "a", "b", EOS: the prompt's ":" is never a target
  EXPECT_EQ(b.tokens(), 5);
}

TEST(SftMask, PaddingIsMaskedAndUnlabelled) {
  rlhf::testing::ByteTokenizer tok;
  auto ds = tokenize_sft({sft_record("P", " x"), sft_record("PPP", " yy")}, tok, 64, "t");
  std::vector<const TokenizedExample*> rows{&ds.examples[0], &ds.examples[1]};
  auto b = collate_padded(rows, 256);
  // Row 0: ids P,' ',x,EOS (3 inputs); row 1: P,P,P,' ',y,y,EOS (6 inputs): T = 6.
  ASSERT_EQ(b.input_ids.size(1), 6);
  EXPECT_TRUE(torch::equal(b.input_ids[0], torch::tensor({'P', ' ', 'x', 256, 256, 256}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.attention_mask[0], torch::tensor({1, 1, 1, 0, 0, 0}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.labels[0], torch::tensor({' ', 'x', 256, -100, -100, -100}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.input_ids[1], torch::tensor({'P', 'P', 'P', ' ', 'y', 'y'}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.labels[1], torch::tensor({-100, -100, ' ', 'y', 'y', 256}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.attention_mask[1], torch::ones({6}, torch::kInt64)));
}

TEST(SftMask, MessagesTrainEveryAssistantTurn) {
  rlhf::testing::ByteTokenizer tok;
  ChatTemplate tpl;
  tpl.user_prefix = "U:";
  tpl.assistant_prefix = "A:";
  auto msgs = nlohmann::json::parse(R"([{"role":"user","content":"h"},{"role":"assistant","content":"o"},
                                        {"role":"user","content":"k"},{"role":"assistant","content":"z"}])");
  SftRecord rec{tpl.render(msgs, {"m.jsonl", 1}), "m.jsonl:1"};
  auto ds = tokenize_sft({rec}, tok, 64, "t");
  const auto& ex = ds.examples[0];
  std::string text(ex.ids.begin(), ex.ids.end() - 1);
  EXPECT_EQ(text, "U:hA: oU:kA: z");
  // Trained: " o", " z" and the EOS.
  std::string trained;
  for (size_t i = 0; i < ex.ids.size(); ++i)
    if (ex.train[i]) trained += ex.ids[i] == 256 ? '$' : static_cast<char>(ex.ids[i]);
  EXPECT_EQ(trained, " o z$");
  EXPECT_EQ(tpl.render_prompt(nlohmann::json::parse(R"([{"role":"user","content":"q"}])"), {}), "U:qA:");
}

TEST(ChatTemplate, DefaultMatchesTheDialogueFormatAndRoundTrips) {
  ChatTemplate tpl;
  auto msgs = nlohmann::json::parse(R"([{"role":"user","content":"Hi"},{"role":"assistant","content":"Yo."}])");
  auto segs = tpl.render(msgs, {});
  std::string all;
  for (auto& s : segs) all += s.text;
  EXPECT_EQ(all, "\n\nHuman: Hi\n\nAssistant: Yo.");
  auto dir = std::filesystem::temp_directory_path() / ("rlhf_tpl_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer_config.json") << R"({"eos_token": "<|endoftext|>"})";
  ChatTemplate custom;
  custom.user_prefix = "\n\nUser: ";
  custom.save(dir.string());
  auto back = ChatTemplate::load(dir.string());
  EXPECT_EQ(back.user_prefix, "\n\nUser: ");
  auto cfg = io::read_json((dir / "tokenizer_config.json").string());
  EXPECT_EQ(cfg["eos_token"], "<|endoftext|>");  // other keys kept
  EXPECT_TRUE(cfg["chat_template"].is_string());
  EXPECT_THROW(tpl.render(nlohmann::json::parse(R"([{"role":"bot","content":"x"}])"), {"f", 3}), Error);
}

TEST(SftBadInput, MalformedLineAndMissingFieldNameFileAndLine) {
  ChatTemplate tpl;
  auto p = write_temp("bad.jsonl", "{\"prompt\": \"a\", \"response\": \" b\"}\n{\"prompt\": \"a\", \n");
  try {
    read_sft_jsonl(p, tpl);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2"), std::string::npos) << e.what();
  }
  auto q = write_temp("missing.jsonl", "{\"prompt\": \"a\", \"response\": \" b\"}\n\n{\"prompt\": \"a\"}\n");
  try {
    read_sft_jsonl(q, tpl);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("missing.jsonl:3"), std::string::npos) << m;
    EXPECT_NE(m.find("response"), std::string::npos) << m;
  }
  auto empty = write_temp("empty.jsonl", "\n");
  try {
    read_sft_jsonl(empty, tpl);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

TEST(SftBadInput, LongPromptsAndEmptyResponsesAreCountedSkips) {
  rlhf::testing::ByteTokenizer tok;
  ChatTemplate tpl;
  auto p = write_temp("skips.jsonl",
                      "{\"prompt\": \"ok\", \"response\": \" fine\"}\n"
                      "{\"prompt\": \"x\", \"response\": \"\"}\n"
                      "{\"prompt\": \"0123456789\", \"response\": \" long prompt\"}\n"
                      "{\"prompt\": \"012345678\", \"response\": \" cut\"}\n");
  SkipReport read_skips;
  auto recs = read_sft_jsonl(p, tpl, &read_skips);
  EXPECT_EQ(recs.size(), 3u);
  EXPECT_EQ(read_skips.total(), 1);
  EXPECT_NE(read_skips.summary().find("skips.jsonl:2"), std::string::npos) << read_skips.summary();
  // Context 10: the 10-id prompt fills it (skip); the 9-id prompt keeps 9 + 2 ids (" c"; kept,
  // truncated).
  auto ds = tokenize_sft(recs, tok, 10, p);
  EXPECT_EQ(ds.examples.size(), 2u);
  EXPECT_EQ(ds.skipped.total(), 1);
  EXPECT_NE(ds.skipped.summary().find("skips.jsonl:3"), std::string::npos) << ds.skipped.summary();
  EXPECT_EQ(ds.truncated, 1);
  EXPECT_EQ(ds.examples[1].ids.size(), 11u);
  // Nothing usable at all: an error that reports the skips.
  EXPECT_THROW(tokenize_sft({sft_record("0123456789", " r")}, tok, 10, "t"), Error);
}

TEST(Corpus, DocumentsSplitAtEotAndPackedWithEos) {
  rlhf::testing::ByteTokenizer tok;
  auto p = write_temp("corpus.txt", "ab<|endoftext|>\n  \n<|endoftext|>cde");
  int64_t empty = 0;
  auto docs = read_text_documents(p, "<|endoftext|>", &empty);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(empty, 1);
  auto stream = pack_documents(docs, tok, 1);
  EXPECT_TRUE(torch::equal(stream, torch::tensor({'a', 'b', 256, 'c', 'd', 'e', 256}, torch::kInt64)));
  PackedSequences seqs(stream, 3);  // (7 - 1) / 3 = 2 sequences
  ASSERT_EQ(seqs.size(), 2);
  auto b = seqs.batch({1});
  EXPECT_TRUE(torch::equal(b.input_ids, torch::tensor({{'c', 'd', 'e'}}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(b.labels, torch::tensor({{'d', 'e', 256}}, torch::kInt64)));
  auto [tr, va] = PackedSequences::split(stream, 2, 0.34);  // 3 sequences: 2 train, 1 val
  EXPECT_EQ(tr.size(), 2);
  EXPECT_EQ(va.size(), 1);
  EXPECT_TRUE(torch::equal(va.batch({0}).input_ids, torch::tensor({{'d', 'e'}}, torch::kInt64)));
  EXPECT_THROW(read_text_documents(write_temp("blank.txt", " \n"), "<|endoftext|>"), Error);
  EXPECT_THROW(read_text_documents("/nonexistent/corpus", "<|endoftext|>"), Error);
}

TEST(Sampler, SeededPermutationsAndExactResumePosition) {
  EpochSampler s(10, 42);
  auto o0 = s.order(0), o1 = s.order(1);
  EXPECT_EQ(std::set<int64_t>(o0.begin(), o0.end()).size(), 10u);
  EXPECT_NE(o0, o1);
  EXPECT_EQ(EpochSampler(10, 42).order(1), o1);  // same seed, same order
  EXPECT_NE(EpochSampler(10, 43).order(0), o0);
  int64_t e = 0, p = 0;
  auto first = s.next_batch(13, e, p);  // wraps into epoch 1
  EXPECT_EQ(e, 1);
  EXPECT_EQ(p, 3);
  EXPECT_EQ(first[10], o1[0]);
  EpochSampler resumed(10, 42);
  auto more = resumed.next_batch(2, e, p);
  EXPECT_EQ(more[0], o1[3]);
  EXPECT_EQ(more[1], o1[4]);
  EXPECT_THROW(EpochSampler(0, 1), Error);
}
