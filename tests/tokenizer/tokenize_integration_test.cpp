// `rlhf tokenize` end to end: encode and decode JSONL through the real binary, and errors that
// name <stdin>:LINE.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

namespace {

const std::string kGpt2Dir = std::string(RLHF_SHARED_DATA) + "/tokenizers/gpt2";

struct Result {
  int status;
  std::string out;
};

// Runs `printf INPUT | rlhf tokenize ARGS 2>&1`.
Result run(const std::string& input, const std::string& args) {
  std::string cmd = "printf '%s' '" + input + "' | " + RLHF_BINARY + " tokenize " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  Result r{-1, ""};
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = ::pclose(p);
  return r;
}

}  // namespace

TEST(TokenizeCli, EncodeDecode) {
  if (!std::ifstream(kGpt2Dir + "/encoder.json")) GTEST_SKIP() << "missing " << kGpt2Dir;
  // Ids from GPT-2's published test vectors (shared/data/tokenizers/gpt2/test_vectors.jsonl).
  Result r = run("\"hello world\"\n\n\"Hello, world!\"\n", "--tokenizer " + kGpt2Dir);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "[31373,995]\n[15496,11,995,0]\n");
  r = run("\"a<|endoftext|>\"\n", "--tokenizer " + kGpt2Dir + " --special");
  EXPECT_EQ(r.out, "[64,50256]\n");
  r = run("[31373, 995]\n[64,50256]\n", "--tokenizer " + kGpt2Dir + " --decode");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "\"hello world\"\n\"a\"\n");
  r = run("[64,50256]\n", "--tokenizer " + kGpt2Dir + " --decode --special");
  EXPECT_EQ(r.out, "\"a<|endoftext|>\"\n");
}

TEST(TokenizeCli, ErrorsNameTheLine) {
  if (!std::ifstream(kGpt2Dir + "/encoder.json")) GTEST_SKIP() << "missing " << kGpt2Dir;
  Result r = run("\"ok\"\n42\n", "--tokenizer " + kGpt2Dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("<stdin>:2"), std::string::npos) << r.out;
  r = run("\"ok\"\n{bad\n", "--tokenizer " + kGpt2Dir);
  EXPECT_NE(r.out.find("<stdin>:2: malformed JSON"), std::string::npos) << r.out;
  r = run("[1]\n[1, 99999999]\n", "--tokenizer " + kGpt2Dir + " --decode");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("<stdin>:2"), std::string::npos) << r.out;
  r = run("", "--tokenizer /no/such/tokenizer");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("/no/such/tokenizer"), std::string::npos) << r.out;
}
