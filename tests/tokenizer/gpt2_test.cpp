// GPT-2 byte-level BPE: the published test vectors (ids from the reference JavaScript encoder),
// the pre-tokenizer split on hand-worked cases, and exact round trips of arbitrary bytes.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "rlhf/io/error.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/formats.h"
#include "tokenizer/pretokenize.h"

namespace {

const std::string kGpt2Dir = std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2";

std::shared_ptr<rlhf::BpeTokenizer> gpt2() {
  static std::shared_ptr<rlhf::BpeTokenizer> tok = rlhf::load_gpt2_files(kGpt2Dir);
  return tok;
}

bool have_gpt2() { return std::ifstream(kGpt2Dir + "/encoder.json").good(); }

}  // namespace

TEST(Gpt2Split, HandWorkedCases) {
  using V = std::vector<std::string_view>;
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("Hello, world!"), (V{"Hello", ",", " world", "!"}));
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("don't we'll"), (V{"don", "'t", " we", "'ll"}));
  // A run of spaces before a word leaves its last space to the word; at the end it stays whole.
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("a   b  "), (V{"a", "  ", " b", "  "}));
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("x\n\ny"), (V{"x", "\n", "\n", "y"}));
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("x \n y"), (V{"x", " \n", " y"}));
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("abc123 45é ?!"), (V{"abc", "123", " 45", "é", " ?!"}));
  EXPECT_EQ(rlhf::tokenizer::gpt2_split("東京 🤖"), (V{"東京", " 🤖"}));
  EXPECT_EQ(rlhf::tokenizer::gpt2_split(""), V{});
}

TEST(Gpt2Bpe, TestVectors) {
  if (!have_gpt2()) GTEST_SKIP() << "missing " << kGpt2Dir;
  auto tok = gpt2();
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->eos_id(), 50256);
  int n = 0;
  rlhf::io::for_each_jsonl(kGpt2Dir + "/test_vectors.jsonl", [&](const rlhf::io::json& j, const rlhf::io::Where& w) {
    std::string text = j.at("text");
    std::vector<int32_t> ids = j.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tok->encode(text), ids) << w.str() << ": " << text;
    EXPECT_EQ(tok->decode(ids), text) << w.str();
    ++n;
  });
  EXPECT_GE(n, 8);
  // With allow_special, <|endoftext|> is one token.
  EXPECT_EQ(tok->encode("a<|endoftext|>b", true), (std::vector<int32_t>{64, 50256, 65}));
  EXPECT_EQ(tok->decode({64, 50256, 65}, true), "ab");
}

TEST(Gpt2Bpe, RoundTripRandomBytesAndText) {
  if (!have_gpt2()) GTEST_SKIP() << "missing " << kGpt2Dir;
  auto tok = gpt2();
  std::mt19937 rng(7);
  for (int k = 0; k < 300; ++k) {
    std::string s(rng() % 200, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 256);  // mostly invalid UTF-8
    EXPECT_EQ(tok->decode(tok->encode(s)), s);
    EXPECT_EQ(tok->decode(tok->encode(s, true)), s);
  }
  for (std::string s : {"Grüße aus München — ça va? 😀👍🏽", "Привет, мир! Καλημέρα κόσμε", "日本語のテキスト、中文文本。",
                        "مرحبا بالعالم", "  \t\n\r\n  mixed\u00a0spaces\u3000here  ", "x\xff\xfe\xc3(\xe2\x82 \xf0\x9f"}) {
    EXPECT_EQ(tok->decode(tok->encode(s)), s) << s;
  }
  std::string longrun(100000, ' ');
  EXPECT_EQ(tok->decode(tok->encode(longrun)), longrun);
}
