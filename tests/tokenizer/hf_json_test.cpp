// tokenizer.json: GPT-2 saved and loaded back gives identical ids; both merge forms load; the
// written schema has the fields Hugging Face's tokenizers requires; bad files name the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/bpe_train.h"
#include "rlhf/tokenizer/formats.h"

using rlhf::io::json;

namespace {

const std::string kGpt2Dir = std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2";
const std::string kHh = std::string(RLHF_SHARED_DATA) + "/hh-rlhf/harmless-base/test.jsonl";

std::string temp_dir(const std::string& name) {
  std::string d = ::testing::TempDir() + "rlhf_hfjson_" + std::to_string(::getpid()) + "_" + name;
  rlhf::io::make_dirs(d);
  return d;
}

std::shared_ptr<rlhf::Tokenizer> gpt2() {
  static std::shared_ptr<rlhf::Tokenizer> tok = rlhf::load_tokenizer(kGpt2Dir);  // loaded once per run
  return tok;
}

std::vector<std::string> corpus() {
  std::vector<std::string> out = {"Hello, world!", "It's 2023; we'll see—naïve café 東京 🤖", "a<|endoftext|>b",
                                  "  multiple   spaces\tand\ttabs\n\n"};
  std::ifstream in(kHh);
  std::string line;
  for (int k = 0; k < 100 && std::getline(in, line); ++k) out.push_back(json::parse(line).at("rejected"));
  return out;
}

void expect_load_error(const std::string& path, const std::string& needle) {
  try {
    rlhf::load_tokenizer(path);
    FAIL() << "expected an error for " << path;
  } catch (const rlhf::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

}  // namespace

TEST(HfJson, Gpt2SaveLoadIdentity) {
  if (!std::ifstream(kGpt2Dir + "/encoder.json")) GTEST_SKIP() << "missing " << kGpt2Dir;
  auto gpt2 = ::gpt2();
  std::string dir = temp_dir("gpt2");
  gpt2->save(dir);
  json j = rlhf::io::read_json(dir + "/tokenizer.json");
  // Schema checks (what tokenizers' deserializer needs).
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["model"]["vocab"].size(), 50257u);
  EXPECT_EQ(j["model"]["merges"].size(), 50000u);
  EXPECT_EQ(j["model"]["merges"][0], "\xc4\xa0 t");  // GPT-2's first merge "Ġ t"
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  ASSERT_EQ(j["added_tokens"].size(), 1u);
  EXPECT_EQ(j["added_tokens"][0]["id"], 50256);
  EXPECT_EQ(j["added_tokens"][0]["special"], true);
  json cfg = rlhf::io::read_json(dir + "/tokenizer_config.json");
  EXPECT_EQ(cfg["eos_token"], "<|endoftext|>");

  auto back = rlhf::load_tokenizer(dir);
  EXPECT_EQ(back->kind(), "bpe");
  EXPECT_EQ(back->vocab_size(), 50257);
  EXPECT_EQ(back->eos_id(), 50256);
  for (const auto& t : corpus()) {
    EXPECT_EQ(back->encode(t), gpt2->encode(t));
    EXPECT_EQ(back->encode(t, true), gpt2->encode(t, true));
  }

  // The newer [a, b] array form of merges loads to the same tokenizer.
  for (auto& m : j["model"]["merges"]) {
    std::string t = m.get<std::string>();
    size_t sp = t.find(' ');
    m = json::array({t.substr(0, sp), t.substr(sp + 1)});
  }
  std::string dir2 = temp_dir("gpt2_arrays");
  rlhf::io::write_json_atomic(dir2 + "/tokenizer.json", j);
  auto strings = rlhf::load_tokenizer(dir2 + "/tokenizer.json");
  for (const auto& t : corpus()) EXPECT_EQ(strings->encode(t), gpt2->encode(t));
}

TEST(HfJson, SaveKeepsOtherConfigKeys) {
  std::string dir = temp_dir("keep");
  rlhf::io::write_json_atomic(dir + "/tokenizer_config.json", json{{"chat_template", "{{ x }}"}, {"eos_token", "old"}});
  rlhf::train_bpe({"some text to train on, some text"}, 270)->save(dir);
  json cfg = rlhf::io::read_json(dir + "/tokenizer_config.json");
  EXPECT_EQ(cfg["chat_template"], "{{ x }}");
  EXPECT_EQ(cfg["eos_token"], "<|endoftext|>");
}

TEST(HfJson, BadFilesNameTheFileAndField) {
  std::string dir = temp_dir("bad");
  std::string p = dir + "/tokenizer.json";
  rlhf::io::write_file_atomic(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0");
  expect_load_error(p, "malformed JSON");
  rlhf::io::write_file_atomic(p, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
  expect_load_error(p, "model.type");
  rlhf::io::write_file_atomic(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                                 "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
  expect_load_error(p, "byte");  // lacks the 256 byte tokens
  rlhf::io::write_file_atomic(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 5}}, "
                                 "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
  expect_load_error(p, "model.vocab");
  rlhf::io::write_file_atomic(p, "{\"model\": {\"type\": \"BPE\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}");
  expect_load_error(p, "model.vocab");
  rlhf::io::write_file_atomic(p, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
  expect_load_error(p, "pre_tokenizer");

  // A merge that names an unknown token: start from a valid byte-level vocabulary.
  if (std::ifstream(kGpt2Dir + "/encoder.json")) {
    json j = rlhf::io::read_json(kGpt2Dir + "/encoder.json");
    json doc = {{"model", {{"type", "BPE"}, {"vocab", j}, {"merges", json::array({"Ġ t", "no such"})}}},
                {"pre_tokenizer", {{"type", "ByteLevel"}}}};
    rlhf::io::write_json_atomic(p, doc);
    expect_load_error(p, "merge #1");
  }

  std::string model = dir + "/junk.model";
  rlhf::io::write_file_atomic(model, std::string("\x01\x02garbage\xff\xff", 11));
  expect_load_error(model, "SentencePiece");
  std::string empty = dir + "/empty.model";
  rlhf::io::write_file_atomic(empty, "");
  expect_load_error(empty, "empty");
  std::string gguf = dir + "/bad.gguf";
  rlhf::io::write_file_atomic(gguf, std::string("GGUF\x03\x00\x00\x00", 8));
  expect_load_error(gguf, "truncated");
  expect_load_error(dir + "/nothing_here", "no such file");
  std::string empty_dir = temp_dir("emptydir");
  expect_load_error(empty_dir, "no tokenizer");
}
