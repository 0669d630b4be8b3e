// BPE training: a hand-worked corpus (merges and ids computed by hand), then a real corpus
// (HH-RLHF transcripts): size honoured, compression, determinism, round trip, save/load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/bpe_train.h"
#include "rlhf/tokenizer/formats.h"

namespace {

const std::string kHh = std::string(RLHF_SHARED_DATA) + "/hh-rlhf/harmless-base/train.jsonl";

// The first `max_bytes` of transcripts, one text per record.
std::vector<std::string> hh_texts(size_t max_bytes) {
  std::vector<std::string> out;
  size_t total = 0;
  std::ifstream in(kHh);
  std::string line;
  while (total < max_bytes && std::getline(in, line)) {
    auto j = rlhf::io::json::parse(line);
    out.push_back(j.at("chosen").get<std::string>());
    total += out.back().size();
  }
  return out;
}

}  // namespace

TEST(BpeTrain, HandWorkedCorpus) {
  // Words: "ab" x1, " ab" x2, "abc" x1. Pair counts: (a,b)=4, (' ',a)=2, (b,c)=1.
  // Merge 1: (a,b) -> 256 "ab". Then (' ',ab)=2, (ab,c)=1. Merge 2: (' ',ab) -> 257 " ab".
  // (ab,c) occurs once < min_pair_count 2: training stops.
  rlhf::BpeTrainConfig cfg;
  cfg.vocab_size = 300;
  auto tok = rlhf::train_bpe({"ab ab ab", "abc"}, cfg);
  ASSERT_EQ(tok->vocab_size(), 256 + 2 + 1);
  EXPECT_EQ(tok->merges().size(), 2u);
  EXPECT_EQ(tok->id_to_token(256), "ab");
  EXPECT_EQ(tok->id_to_token(257), "\xc4\xa0" "ab");  // byte-level form of " ab" (space -> U+0120)
  EXPECT_EQ(tok->id_to_token(258), "<|endoftext|>");
  EXPECT_EQ(tok->eos_id(), 258);
  EXPECT_EQ(tok->encode("ab ab abc"), (std::vector<int32_t>{256, 257, 257, 'c'}));
  EXPECT_EQ(tok->encode("ab<|endoftext|>", true), (std::vector<int32_t>{256, 258}));
  // min_pair_count 1 also learns (ab,c); vocab_size caps the number of merges.
  cfg.min_pair_count = 1;
  EXPECT_EQ(rlhf::train_bpe({"ab ab ab", "abc"}, cfg)->vocab_size(), 256 + 3 + 1);
  cfg.vocab_size = 256 + 1 + 1;
  auto one = rlhf::train_bpe({"ab ab ab", "abc"}, cfg);
  EXPECT_EQ(one->vocab_size(), 258);
  EXPECT_EQ(one->id_to_token(256), "ab");
  cfg.vocab_size = 200;
  EXPECT_THROW(rlhf::train_bpe({"x"}, cfg), rlhf::Error);
}

TEST(BpeTrain, SpecialTokensAreCutOutOfTheCorpus) {
  rlhf::BpeTrainConfig cfg;
  cfg.vocab_size = 400;
  cfg.min_pair_count = 1;
  cfg.special_tokens = {"<|endoftext|>", "<|pad|>"};
  auto tok = rlhf::train_bpe({"hi<|endoftext|>hi<|endoftext|>hi<|endoftext|>"}, cfg);
  for (int32_t id = 256; id < tok->vocab_size() - 2; ++id)
    EXPECT_EQ(tok->id_to_token(id).find('|'), std::string::npos) << tok->id_to_token(id);
  EXPECT_EQ(tok->pad_id(), tok->vocab_size() - 1);
  EXPECT_EQ(tok->eos_id(), tok->vocab_size() - 2);
}

TEST(BpeTrain, RealCorpus) {
  if (!std::ifstream(kHh).good()) GTEST_SKIP() << "missing " << kHh;
  std::vector<std::string> texts = hh_texts(400000);
  std::vector<std::string> train(texts.begin() + 20, texts.end()), held(texts.begin(), texts.begin() + 20);
  auto a = rlhf::train_bpe(train, 1024);
  EXPECT_EQ(a->vocab_size(), 1024);
  auto b = rlhf::train_bpe(train, 1024);  // deterministic
  EXPECT_EQ(a->vocab(), b->vocab());
  EXPECT_EQ(a->merges(), b->merges());
  size_t bytes = 0, tokens = 0;
  for (const auto& t : held) {
    std::vector<int32_t> ids = a->encode(t);
    EXPECT_EQ(a->decode(ids), t);
    bytes += t.size();
    tokens += ids.size();
    for (int32_t id : ids) EXPECT_LT(id, 1024);
  }
  // English with 1k tokens: well under half a token per byte (bytes alone would be 1.0).
  EXPECT_LT(static_cast<double>(tokens) / bytes, 0.45) << tokens << " tokens for " << bytes << " bytes";
  // Saved and loaded back: identical ids.
  std::string dir = ::testing::TempDir() + "rlhf_bpe_train_" + std::to_string(::getpid());
  a->save(dir);
  auto c = rlhf::load_tokenizer(dir);
  for (const auto& t : held) EXPECT_EQ(c->encode(t), a->encode(t));
  EXPECT_EQ(c->eos_id(), a->eos_id());
}
