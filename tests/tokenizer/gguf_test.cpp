// GGUF reader: the shared stories260K file (GGUF v1) checked against its documented shape and
// against llama2.c's independent export of the same weights; synthetic v1/v3 files written here
// byte by byte; corrupted copies (truncated, bad magic, bad types, offsets past the end).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "rlhf/io/error.h"
#include "rlhf/io/gguf.h"

using rlhf::io::GgufFile;

namespace {

const std::string kStoriesGguf = std::string(RLHF_SHARED_DATA) + "/models/stories260K/tinyllamas-stories-260k-f32.gguf";
const std::string kStoriesBin = std::string(RLHF_SHARED_DATA) + "/models/stories260K/stories260K.bin";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "rlhf_gguf_" + std::to_string(::getpid()) + "_" + name;
}

void write_all(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// A minimal GGUF writer, independent of the reader: version 1 writes u32 sizes, later u64.
struct Writer {
  uint32_t version;
  std::string buf;
  template <typename T>
  void put(T v) {
    buf.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void size(uint64_t n) {
    if (version == 1) put<uint32_t>(static_cast<uint32_t>(n));
    else put<uint64_t>(n);
  }
  void str(const std::string& s) {
    size(s.size());
    buf += s;
  }
};

// Builds a small file: metadata of several types and two tensors (F32 [2,3] and F16 [4]).
// Returns the bytes; *tensor_offset_pos receives the byte position of the second tensor's offset.
std::string make_gguf(uint32_t version, size_t* second_offset_pos = nullptr, uint32_t alignment = 32) {
  Writer w{version, {}};
  w.buf = "GGUF";
  w.put<uint32_t>(version);
  w.size(2);  // tensors
  w.size(6);  // kv
  w.str("general.architecture");
  w.put<uint32_t>(8);
  w.str("llama");
  w.str("general.alignment");
  w.put<uint32_t>(4);
  w.put<uint32_t>(alignment);
  w.str("x.i8");
  w.put<uint32_t>(1);
  w.put<int8_t>(-5);
  w.str("x.f64");
  w.put<uint32_t>(12);
  w.put<double>(2.5);
  w.str("x.flag");
  w.put<uint32_t>(7);
  w.put<uint8_t>(1);
  w.str("x.words");
  w.put<uint32_t>(9);
  w.put<uint32_t>(8);
  w.size(3);
  w.str("a");
  w.str("");
  w.str("\xe2\x96\x81" "b");
  // tensor 0: "w" F32 dims {3, 2} (row-major [2, 3]) at offset 0 (24 bytes)
  w.str("w");
  w.put<uint32_t>(2);
  if (version == 1) {
    w.put<uint32_t>(3);
    w.put<uint32_t>(2);
  } else {
    w.put<uint64_t>(3);
    w.put<uint64_t>(2);
  }
  w.put<uint32_t>(0);
  w.put<uint64_t>(0);
  // tensor 1: "h" F16 dims {4} at the next aligned offset
  w.str("h");
  w.put<uint32_t>(1);
  if (version == 1) w.put<uint32_t>(4);
  else w.put<uint64_t>(4);
  w.put<uint32_t>(1);
  if (second_offset_pos) *second_offset_pos = w.buf.size();
  uint64_t off1 = (24 + alignment - 1) / alignment * alignment;
  w.put<uint64_t>(off1);
  while (w.buf.size() % alignment) w.buf.push_back('\0');
  for (float f : {1.f, 2.f, 3.f, 4.f, 5.f, -6.5f}) w.put<float>(f);
  while (w.buf.size() % alignment) w.buf.push_back('\0');
  // f16: 1.0 = 0x3C00, -2.0 = 0xC000, 0.5 = 0x3800, 65504 = 0x7BFF
  for (uint16_t h : {0x3C00, 0xC000, 0x3800, 0x7BFF}) w.put<uint16_t>(h);
  return w.buf;
}

void expect_error_naming(const std::string& path, const std::string& needle) {
  try {
    GgufFile g(path);
    FAIL() << "expected rlhf::Error for " << path;
  } catch (const rlhf::Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

}  // namespace

TEST(Gguf, StoriesHeaderAndMetadata) {
  if (!std::ifstream(kStoriesGguf)) GTEST_SKIP() << "missing " << kStoriesGguf;
  GgufFile g(kStoriesGguf);
  EXPECT_EQ(g.version(), 1u);
  EXPECT_EQ(g.alignment(), 32u);
  EXPECT_EQ(g.get_string("general.architecture"), "llama");
  // Documented in shared/data/README.md: dim 64, 5 layers, 8 heads, 4 KV heads, hidden 172,
  // vocab 512, context 512.
  EXPECT_EQ(g.get_uint("llama.embedding_length"), 64u);
  EXPECT_EQ(g.get_uint("llama.block_count"), 5u);
  EXPECT_EQ(g.get_uint("llama.attention.head_count"), 8u);
  EXPECT_EQ(g.get_uint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(g.get_uint("llama.feed_forward_length"), 172u);
  EXPECT_EQ(g.get_uint("llama.context_length"), 512u);
  EXPECT_NEAR(g.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
  EXPECT_EQ(g.get_string("tokenizer.ggml.model"), "llama");
  auto tokens = g.get_string_array("tokenizer.ggml.tokens");
  ASSERT_EQ(tokens.size(), 512u);
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(tokens[2], "</s>");
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(g.get_f32_array("tokenizer.ggml.scores").size(), 512u);
  EXPECT_EQ(g.get_int_array("tokenizer.ggml.token_type").size(), 512u);
  EXPECT_EQ(g.get_uint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(g.get_uint("tokenizer.ggml.eos_token_id"), 2u);
  // Wrong-type and missing keys name the key.
  EXPECT_THROW(g.get_uint("general.architecture"), rlhf::Error);
  try {
    g.get_string("no.such.key");
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.key"), std::string::npos);
  }
  EXPECT_EQ(g.get_uint_or("no.such.key", 7), 7u);
}

TEST(Gguf, StoriesTensorTable) {
  if (!std::ifstream(kStoriesGguf)) GTEST_SKIP() << "missing " << kStoriesGguf;
  GgufFile g(kStoriesGguf);
  // 5 layers x 9 tensors (4 attention, 3 MLP, 2 norms) + token_embd + output_norm + output.
  EXPECT_EQ(g.tensors().size(), 5u * 9u + 3u);
  const auto& emb = g.tensor("token_embd.weight");
  EXPECT_EQ(emb.type, rlhf::io::GgmlType::F32);
  EXPECT_EQ(emb.shape(), (std::vector<int64_t>{512, 64}));
  EXPECT_EQ(g.tensor("blk.4.ffn_gate.weight").shape(), (std::vector<int64_t>{172, 64}));
  EXPECT_EQ(g.tensor("blk.4.ffn_down.weight").shape(), (std::vector<int64_t>{64, 172}));
  // 4 KV heads of head_dim 64/8 = 8 -> 32 rows.
  EXPECT_EQ(g.tensor("blk.0.attn_k.weight").shape(), (std::vector<int64_t>{32, 64}));
  EXPECT_EQ(g.tensor("output_norm.weight").shape(), (std::vector<int64_t>{64}));
  EXPECT_EQ(g.find_tensor("blk.5.attn_q.weight"), nullptr);
  EXPECT_THROW(g.tensor("nope"), rlhf::Error);
  // Every tensor lies inside the file; the last one ends exactly at the end of the file.
  uint64_t end = 0;
  for (const auto& t : g.tensors()) end = std::max(end, g.data_offset() + t.offset + t.n_bytes);
  EXPECT_EQ(end, g.file_size());

  // The token embedding equals llama2.c's export of the same model (stories260K.bin: a header of
  // 7 int32, then the [vocab, dim] f32 embedding table).
  if (!std::ifstream(kStoriesBin)) GTEST_SKIP() << "missing " << kStoriesBin;
  std::string bin = read_all(kStoriesBin);
  ASSERT_GE(bin.size(), 28u + 512u * 64u * 4u);
  int32_t header[7];
  std::memcpy(header, bin.data(), 28);
  EXPECT_EQ(header[0], 64);
  EXPECT_EQ(header[2], 5);
  std::vector<float> ref(512 * 64);
  std::memcpy(ref.data(), bin.data() + 28, ref.size() * 4);
  std::vector<float> got = g.tensor_to_f32(emb);
  ASSERT_EQ(got.size(), ref.size());
  EXPECT_EQ(got, ref);
}

TEST(Gguf, SyntheticV1AndV3) {
  for (uint32_t version : {1u, 2u, 3u}) {
    for (uint32_t alignment : {32u, 64u}) {
      std::string path = temp_path("v" + std::to_string(version) + "_" + std::to_string(alignment) + ".gguf");
      write_all(path, make_gguf(version, nullptr, alignment));
      GgufFile g(path);
      EXPECT_EQ(g.version(), version);
      EXPECT_EQ(g.alignment(), alignment);
      EXPECT_EQ(g.data_offset() % alignment, 0u);
      EXPECT_EQ(g.get_int("x.i8"), -5);
      EXPECT_THROW(g.get_uint("x.i8"), rlhf::Error);  // negative
      EXPECT_DOUBLE_EQ(g.get_float("x.f64"), 2.5);
      EXPECT_TRUE(g.get_bool("x.flag"));
      EXPECT_EQ(g.get_string_array("x.words"), (std::vector<std::string>{"a", "", "\xe2\x96\x81" "b"}));
      ASSERT_EQ(g.tensors().size(), 2u);
      const auto& w = g.tensor("w");
      EXPECT_EQ(w.shape(), (std::vector<int64_t>{2, 3}));
      EXPECT_EQ(w.n_bytes, 24u);
      EXPECT_EQ(g.tensor_to_f32(w), (std::vector<float>{1, 2, 3, 4, 5, -6.5f}));
      EXPECT_EQ(g.tensor_to_f32(g.tensor("h")), (std::vector<float>{1.f, -2.f, 0.5f, 65504.f}));
      std::remove(path.c_str());
    }
  }
}

TEST(Gguf, TruncatedAnywhereThrows) {
  for (uint32_t version : {1u, 3u}) {
    std::string full = make_gguf(version);
    std::string path = temp_path("trunc.gguf");
    // Every prefix shorter than the file is invalid (the last tensor ends at the end of the file).
    // All prefixes for v1, every third for v3 (keeps the test fast; the code paths are shared).
    for (size_t n = 0; n < full.size(); n += version == 1 ? 1 : 3) {
      write_all(path, full.substr(0, n));
      EXPECT_THROW(GgufFile g(path), rlhf::Error) << "prefix " << n << " of v" << version;
    }
    std::remove(path.c_str());
  }
  if (!std::ifstream(kStoriesGguf)) GTEST_SKIP() << "missing " << kStoriesGguf;
  std::string real = read_all(kStoriesGguf);
  std::string path = temp_path("trunc_real.gguf");
  for (size_t n : {size_t(3), size_t(10), size_t(100), size_t(600), size_t(5000), size_t(11000), size_t(11456),
                   real.size() / 2, real.size() - 1}) {
    write_all(path, real.substr(0, n));
    EXPECT_THROW(GgufFile g(path), rlhf::Error) << "prefix " << n;
  }
  std::remove(path.c_str());
}

TEST(Gguf, CorruptionsNameTheFault) {
  size_t off_pos = 0;
  std::string good = make_gguf(3, &off_pos);
  std::string path = temp_path("bad.gguf");

  std::string bad = good;
  bad[0] = 'X';
  write_all(path, bad);
  expect_error_naming(path, "magic");

  bad = good;
  bad[4] = 9;  // version 9
  write_all(path, bad);
  expect_error_naming(path, "version");

  bad = good;  // second tensor's offset far past the end of the file
  uint64_t huge = 1ull << 20;
  std::memcpy(&bad[off_pos], &huge, 8);
  write_all(path, bad);
  expect_error_naming(path, "tensor \"h\"");

  bad = good;  // offset not a multiple of the alignment
  uint64_t odd = 40;
  std::memcpy(&bad[off_pos], &odd, 8);
  write_all(path, bad);
  expect_error_naming(path, "alignment");

  bad = good;  // unknown tensor type 99 (the u32 just before the offset)
  uint32_t t99 = 99;
  std::memcpy(&bad[off_pos - 4], &t99, 4);
  write_all(path, bad);
  expect_error_naming(path, "unknown ggml type");

  bad = good;  // absurd tensor count
  uint64_t many = 1ull << 40;
  std::memcpy(&bad[8], &many, 8);
  write_all(path, bad);
  expect_error_naming(path, "tensor count");

  bad = good;  // first metadata value type (after magic, version, 2 counts, key) -> 77
  size_t type_pos = 4 + 4 + 8 + 8 + 8 + std::strlen("general.architecture");
  uint32_t t77 = 77;
  std::memcpy(&bad[type_pos], &t77, 4);
  write_all(path, bad);
  expect_error_naming(path, "general.architecture");

  write_all(path, "");
  expect_error_naming(path, "magic");
  std::remove(path.c_str());
  expect_error_naming(temp_path("does_not_exist.gguf"), "cannot open");
}

TEST(Gguf, HalfConversion) {
  EXPECT_EQ(rlhf::io::gguf_f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(rlhf::io::gguf_f16_to_f32(0x3555), 0.333251953125f);
  EXPECT_TRUE(std::isinf(rlhf::io::gguf_f16_to_f32(0xFC00)));
  EXPECT_EQ(rlhf::io::gguf_bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(rlhf::io::gguf_bf16_to_f32(0xC0A0), -5.0f);
}
