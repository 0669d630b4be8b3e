// `rlhf convert` end to end: the real binary converts stories260K (both formats) into folders
// that load, and rejects bad input with one clear error line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "rlhf/io/files.h"
#include "rlhf/model/checkpoint.h"

using namespace rlhf;
namespace fs = std::filesystem;

namespace {

const std::string kDir = std::string(RLHF_SHARED_DATA) + "/models/stories260K";

// Runs the binary; returns {exit code, stdout+stderr}.
std::pair<int, std::string> run(const std::string& args) {
  std::string cmd = std::string(RLHF_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

std::string tmp_dir(const std::string& name) {
  return (fs::temp_directory_path() / ("rlhf_convert_" + std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

TEST(ConvertCli, ConvertsBothStoriesFormats) {
  const std::string bin = kDir + "/stories260K.bin", gguf = kDir + "/tinyllamas-stories-260k-f32.gguf",
                    tok = kDir + "/tok512.model";
  if (!io::file_exists(bin) || !io::file_exists(gguf) || !io::file_exists(tok)) GTEST_SKIP() << "stories260K absent";
  std::string a = tmp_dir("bin"), b = tmp_dir("gguf");
  auto [rc1, out1] = run("convert " + bin + " " + a + " --tokenizer " + tok);
  ASSERT_EQ(rc1, 0) << out1;
  auto [rc2, out2] = run("convert " + gguf + " " + b);
  ASSERT_EQ(rc2, 0) << out2;
  auto ca = load_checkpoint(a), cb = load_checkpoint(b);
  ASSERT_TRUE(ca.tokenizer && cb.tokenizer);
  EXPECT_EQ(ca.tokenizer->vocab_size(), 512);
  torch::NoGradGuard g;
  auto toks = torch::randint(512, {2, 20}, torch::kLong);
  EXPECT_LT((ca.model->forward(toks) - cb.model->forward(toks)).abs().max().item<double>(), 1e-5);
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(ConvertCli, BadInputsGiveOneErrorLine) {
  const std::string bin = kDir + "/stories260K.bin";
  if (!io::file_exists(bin)) GTEST_SKIP() << "stories260K absent";
  auto [rc, out] = run("convert " + bin + " " + tmp_dir("x"));
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("--tokenizer"), std::string::npos) << out;
  std::string junk = tmp_dir("junk.bin");
  io::write_file_atomic(junk, "this is not a model file at all, just text");
  auto [rc2, out2] = run("convert " + junk + " " + tmp_dir("y"));
  EXPECT_EQ(rc2, 1);
  EXPECT_NE(out2.find("unrecognised model format"), std::string::npos) << out2;
  // A GGUF cut in the middle of its tensor data.
  std::string cut = tmp_dir("cut.gguf");
  std::string data = io::read_file(kDir + "/tinyllamas-stories-260k-f32.gguf");
  io::write_file_atomic(cut, std::string_view(data).substr(0, data.size() / 2));
  auto [rc3, out3] = run("convert " + cut + " " + tmp_dir("z"));
  EXPECT_EQ(rc3, 1);
  EXPECT_NE(out3.find(cut), std::string::npos) << out3;
  EXPECT_FALSE(fs::exists(tmp_dir("z")));
  fs::remove(junk);
  fs::remove(cut);
}
