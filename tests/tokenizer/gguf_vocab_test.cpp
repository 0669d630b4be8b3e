// GGUF-embedded vocabularies built here from other formats: GPT-2's encoder.json + vocab.bpe as a
// tokenizer.ggml.model "gpt2" vocabulary must give GPT-2's published ids; malformed vocabularies
// name the file and key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/formats.h"
#include "tokenizer/gguf_writer.h"

namespace {

const std::string kGpt2Dir = std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2";

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "rlhf_ggufvocab_" + std::to_string(::getpid()) + "_" + name;
}

void expect_error(const std::string& path, const std::string& needle) {
  try {
    rlhf::load_tokenizer(path);
    FAIL() << "expected an error for " << path;
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(GgufVocab, Gpt2ModelMatchesPublishedIds) {
  if (!std::ifstream(kGpt2Dir + "/encoder.json")) GTEST_SKIP() << "missing " << kGpt2Dir;
  rlhf::io::json enc = rlhf::io::read_json(kGpt2Dir + "/encoder.json");
  std::vector<std::string> tokens(enc.size());
  for (auto it = enc.begin(); it != enc.end(); ++it) tokens[it.value().get<size_t>()] = it.key();
  std::vector<std::string> merges;
  std::ifstream bpe(kGpt2Dir + "/vocab.bpe");
  std::string line;
  std::getline(bpe, line);  // #version
  while (std::getline(bpe, line))
    if (!line.empty()) merges.push_back(line);
  std::vector<int32_t> types(tokens.size(), 1);
  types[50256] = 3;  // control
  rlhf_test::GgufWriter w(3);
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_string_array("tokenizer.ggml.merges", merges);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  w.add_u32("tokenizer.ggml.bos_token_id", 50256);
  w.add_u32("tokenizer.ggml.eos_token_id", 50256);
  std::string path = temp_path("gpt2.gguf");
  rlhf::io::write_file_atomic(path, w.bytes());
  auto tok = rlhf::load_tokenizer(path);
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->eos_id(), 50256);
  rlhf::io::for_each_jsonl(kGpt2Dir + "/test_vectors.jsonl", [&](const rlhf::io::json& j, const rlhf::io::Where& where) {
    EXPECT_EQ(tok->encode(j.at("text").get<std::string>()), j.at("ids").get<std::vector<int32_t>>()) << where.str();
  });
  EXPECT_EQ(tok->encode("x<|endoftext|>", true).back(), 50256);
  std::remove(path.c_str());
}

TEST(GgufVocab, MalformedVocabulariesNameTheKey) {
  std::string path = temp_path("bad.gguf");
  {
    rlhf_test::GgufWriter w(1);  // no tokenizer at all
    w.add_string("general.architecture", "llama");
    rlhf::io::write_file_atomic(path, w.bytes());
    expect_error(path, "tokenizer.ggml.model");
  }
  {
    rlhf_test::GgufWriter w(2);
    w.add_string("tokenizer.ggml.model", "bert");
    w.add_string_array("tokenizer.ggml.tokens", {"a"});
    rlhf::io::write_file_atomic(path, w.bytes());
    expect_error(path, "bert");
  }
  {
    rlhf_test::GgufWriter w(3);
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    w.add_i32_array("tokenizer.ggml.token_type", {2, 3, 3});  // one short
    rlhf::io::write_file_atomic(path, w.bytes());
    expect_error(path, "tokenizer.ggml.token_type");
  }
  {
    rlhf_test::GgufWriter w(3);
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
    w.add_u32("tokenizer.ggml.bos_token_id", 9);
    rlhf::io::write_file_atomic(path, w.bytes());
    expect_error(path, "tokenizer.ggml.bos_token_id");
  }
  {
    // A tiny llama vocabulary without scores still encodes (all scores 0) and round-trips.
    rlhf_test::GgufWriter w(3);
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a"});
    w.add_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 1});
    rlhf::io::write_file_atomic(path, w.bytes());
    auto tok = rlhf::load_tokenizer(path);
    EXPECT_EQ(tok->encode("a b"), (std::vector<int32_t>{6, 3, 5}));  // "▁a" "▁" "b"
    EXPECT_EQ(tok->decode({6, 3, 5}), "a b");
    EXPECT_EQ(tok->encode("c"), (std::vector<int32_t>{3, 0}));  // no byte pieces: <unk>
  }
  std::remove(path.c_str());
}
