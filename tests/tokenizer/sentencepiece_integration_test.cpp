// libsentencepiece in a process that also runs libtorch (its protobuf copy and libtorch's must
// not meet: it is loaded through the shim with dlopen): in this test binary, linked to libtorch,
// and through `rlhf tokenize` with .model files (a BPE model, which our own encoder takes, and a
// unigram model, which only libsentencepiece encodes).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "rlhf/io/files.h"
#include "rlhf/tokenizer/formats.h"
#include "rlhf/tokenizer/sentencepiece.h"

namespace {

const std::string kTok512 = std::string(RLHF_SHARED_DATA) + "/models/stories260K/tok512.model";

std::string varint(uint64_t v) {
  std::string s;
  do {
    s += static_cast<char>((v & 0x7F) | (v > 0x7F ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return s;
}
std::string field_bytes(int f, const std::string& p) { return varint(f << 3 | 2) + varint(p.size()) + p; }
std::string field_varint(int f, uint64_t v) { return varint(f << 3) + varint(v); }
std::string field_float(int f, float x) {
  char b[4];
  std::memcpy(b, &x, 4);
  return varint(f << 3 | 5) + std::string(b, 4);
}

// The unigram model of sentencepiece_test.cpp: "ab ba" -> 7 5 3 8 by Viterbi over piece scores.
std::string unigram_model_file() {
  const std::string sp = "\xe2\x96\x81";
  struct P {
    std::string piece;
    float score;
    int type;
  };
  const std::vector<P> pieces = {{"<unk>", 0, 2}, {"<s>", 0, 3},      {"</s>", 0, 3},    {sp, -2, 1},
                                 {"a", -3, 1},    {"b", -3, 1},       {"ab", -4, 1},     {sp + "a", -2.5f, 1},
                                 {"ba", -1, 1},   {sp + "ab", -7, 1}, {sp + "b", -6, 1}};
  std::string model;
  for (const auto& p : pieces)
    model += field_bytes(1, field_bytes(1, p.piece) + field_float(2, p.score) + field_varint(3, p.type));
  model += field_bytes(2, field_varint(3, 1) + field_varint(4, pieces.size()));
  model += field_bytes(3, field_bytes(1, "identity") + field_varint(3, 1) + field_varint(4, 1) + field_varint(5, 1));
  const std::string dir = ::testing::TempDir() + "rlhf_spm_integ_" + std::to_string(::getpid());
  rlhf::io::make_dirs(dir);
  rlhf::io::write_file_atomic(dir + "/uni.model", model);
  return dir + "/uni.model";
}

struct Result {
  int status;
  std::string out;
};
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

TEST(SentencePieceWithTorch, LibsentencepieceMatchesOurEncoderBesideLibtorch) {
  if (!std::ifstream(kTok512)) GTEST_SKIP() << "missing " << kTok512;
  auto ours = rlhf::load_tokenizer(kTok512);  // BPE: our own encoder
  ASSERT_NE(dynamic_cast<rlhf::SpmBpeTokenizer*>(ours.get()), nullptr);
  rlhf::SentencePieceTokenizer lib(rlhf::io::read_file(kTok512), kTok512);
  EXPECT_EQ(lib.vocab_size(), 512);
  for (std::string s : {"Once upon a time, there was a little girl named Lily.", "Tom and Sue saw a big, red ball.",
                        "Gr\xc3\xbc\xc3\x9f" "e \xe6\x9d\xb1 \xf0\x9f\xa4\x96!"})
    EXPECT_EQ(lib.encode(s), ours->encode(s)) << s;
  // libtorch (and its protobuf-based parts) still works in the same process.
  EXPECT_EQ(torch::ones({3}).sum().item<float>(), 3.0f);
  auto uni = rlhf::load_tokenizer(unigram_model_file());
  EXPECT_EQ(uni->encode("ab ba"), (std::vector<int32_t>{7, 5, 3, 8}));
}

TEST(SentencePieceWithTorch, TokenizeCliWithModelFiles) {
  Result r = run("\"ab ba\"\n\"abc\"\n", "--tokenizer " + unigram_model_file());
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "[7,5,3,8]\n[7,5,0]\n");
  r = run("[7,5,3,8]\n", "--tokenizer " + unigram_model_file() + " --decode");
  EXPECT_EQ(r.out, "\"ab ba\"\n");
  if (!std::ifstream(kTok512)) GTEST_SKIP() << "missing " << kTok512;
  // Ids from libsentencepiece 0.1.97 with tok512.model (sentencepiece_test.cpp).
  r = run("\"Once upon a time, there was a little girl named Lily.\"\n", "--tokenizer " + kTok512);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "[403,407,261,378,432,383,286,261,376,298,315,421,395,317,426]\n");
}
