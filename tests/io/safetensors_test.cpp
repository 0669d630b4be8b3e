// Safetensors: round trip, header layout, and every kind of corrupt file -> rlhf::Error naming
// the file and the tensor.
#include "rlhf/io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rlhf/io/error.h"

using namespace rlhf::io;
namespace fs = std::filesystem;

namespace {

std::string tmp_path(const std::string& name) {
  auto d = fs::temp_directory_path() / ("rlhf_st_test_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return (d / name).string();
}

// Writes a file from a header JSON text and a data section.
std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                      int64_t len_override = -1) {
  std::string p = tmp_path(name);
  std::ofstream f(p, std::ios::binary);
  uint64_t n = len_override >= 0 ? static_cast<uint64_t>(len_override) : header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>(n >> (8 * i)));
  f << header << data;
  return p;
}

// Expects an rlhf::Error whose message contains every needle.
void expect_error(const std::string& path, std::vector<std::string> needles) {
  try {
    SafetensorsFile f(path);
    FAIL() << "no error for " << path;
  } catch (const rlhf::Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Safetensors, RoundTrip) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::vector<int64_t> b = {42, -7};
  std::vector<uint8_t> c = {1, 0, 1};
  std::string p = tmp_path("rt.safetensors");
  write_safetensors(p,
                    {{"zeta", "I64", {2}, b.data(), 16}, {"alpha", "F32", {2, 3}, a.data(), 24},
                     {"mid", "BOOL", {3}, c.data(), 3}},
                    {{"format", "pt"}});
  SafetensorsFile f(p);
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "alpha");  // sorted
  const auto& ta = f.get("alpha");
  EXPECT_EQ(ta.dtype, "F32");
  EXPECT_EQ(ta.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(f.data(ta), a.data(), 24), 0);
  EXPECT_EQ(std::memcmp(f.data(f.get("zeta")), b.data(), 16), 0);
  EXPECT_EQ(std::memcmp(f.data(f.get("mid")), c.data(), 3), 0);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("nope"), nullptr);
  EXPECT_THROW(f.get("nope"), rlhf::Error);
  // Header length is a multiple of 8 and data is laid out in name order from offset 0.
  std::ifstream in(p, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(ta.begin, 0u);
  EXPECT_EQ(f.get("mid").begin, 24u);
  EXPECT_EQ(f.get("zeta").begin, 27u);
  EXPECT_EQ(fs::file_size(p), 8 + n + 24 + 3 + 16);
}

TEST(Safetensors, WriterRejectsBadEntries) {
  float x[2] = {1, 2};
  std::string p = tmp_path("bad_w.safetensors");
  EXPECT_THROW(write_safetensors(p, {{"a", "F32", {3}, x, 8}}), rlhf::Error);
  EXPECT_THROW(write_safetensors(p, {{"a", "Q4", {2}, x, 8}}), rlhf::Error);
  EXPECT_THROW(write_safetensors(p, {{"a", "F32", {2}, x, 8}, {"a", "F32", {2}, x, 8}}), rlhf::Error);
  EXPECT_FALSE(fs::exists(p));
}

TEST(Safetensors, CorruptFilesNameFileAndTensor) {
  const std::string eight(8, 'x');
  // File shorter than the length prefix.
  {
    std::string p = tmp_path("tiny.safetensors");
    std::ofstream(p) << "abc";
    expect_error(p, {p, "truncated"});
  }
  // Header length past the end of the file.
  expect_error(write_raw("len.safetensors", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight, 1000),
               {"len.safetensors", "past the end"});
  // Header cut short (length says more than the JSON we wrote before EOF, JSON broken).
  expect_error(write_raw("json.safetensors", R"({"w":{"dtype":"F32","sha)", ""), {"json.safetensors", "malformed"});
  // Data section truncated: offsets past its end.
  expect_error(write_raw("trunc.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight),
               {"trunc.safetensors", "\"w\"", "past the data section"});
  // Shape x dtype != span.
  expect_error(write_raw("shape.safetensors", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight),
               {"shape.safetensors", "\"w\"", "needs 12 bytes"});
  // Unknown dtype.
  expect_error(write_raw("dtype.safetensors", R"({"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}})", eight),
               {"dtype.safetensors", "\"w\"", "unknown dtype"});
  // Overlapping tensors.
  expect_error(write_raw("overlap.safetensors",
                         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         eight),
               {"overlap.safetensors", "overlaps"});
  // end < begin.
  expect_error(write_raw("rev.safetensors", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", eight),
               {"rev.safetensors", "\"w\""});
  // Missing data_offsets / negative shape / non-object header.
  expect_error(write_raw("nooff.safetensors", R"({"w":{"dtype":"F32","shape":[2]}})", eight), {"\"w\"", "data_offsets"});
  expect_error(write_raw("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight),
               {"\"w\"", "shape"});
  expect_error(write_raw("arr.safetensors", R"([1,2])", eight), {"arr.safetensors", "object"});
  // __metadata__ is allowed; a well-formed file with it loads.
  SafetensorsFile ok(write_raw("meta.safetensors",
                               R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                               eight));
  EXPECT_EQ(ok.tensors().size(), 1u);
  // A missing file.
  expect_error(tmp_path("absent.safetensors"), {"absent.safetensors"});
}
