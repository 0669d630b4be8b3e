// `rlhf pipeline --preset tiny` end to end through the real binary: summary.json holds the
// required figures, a rerun skips every complete stage, and an interrupted run resumes.
// Also the training commands' bad-input errors (config typo, malformed SFT line).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"

namespace fs = std::filesystem;

namespace {
struct Run {
  int status;
  std::string out;
};
Run sh(const std::string& cmd) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int st = pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}
std::string tmp(const std::string& name) {
  auto d = fs::temp_directory_path() / ("rlhf_pipe_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}
}  // namespace

TEST(PipelineIntegration, TinyPresetWritesSummaryAndRerunSkipsStages) {
  std::string out = tmp("tiny");
  auto r = sh(std::string(RLHF_BINARY) + " pipeline --preset tiny --threads 2 --out " + out);
  ASSERT_EQ(r.status, 0) << r.out;
  auto s = rlhf::io::read_json(out + "/summary.json");
  for (const char* stage : {"world", "pretrain", "sft", "eval"}) {
    ASSERT_TRUE(s.contains(stage)) << stage << "\n" << s.dump(2);
    EXPECT_TRUE(s[stage]["wall_s"].is_number()) << stage;
  }
  for (const char* model : {"base", "sft"}) {
    ASSERT_TRUE(s[model]["gold_mean"].is_number()) << s.dump(2);
    const auto& ci = s[model]["gold_ci95"];
    ASSERT_TRUE(ci.is_array() && ci.size() == 2) << s.dump(2);
    EXPECT_LE(ci[0].get<double>(), s[model]["gold_mean"].get<double>());
    EXPECT_GE(ci[1].get<double>(), s[model]["gold_mean"].get<double>());
  }
  double win = s["sft"]["win_rate_vs_base"].get<double>();
  EXPECT_GE(win, 0.0);
  EXPECT_LE(win, 1.0);
  EXPECT_TRUE(s["pretrain"]["final_loss"].is_number());
  EXPECT_TRUE(rlhf::io::file_exists(out + "/run_config.json"));
  EXPECT_TRUE(rlhf::io::file_exists(out + "/sft/final/model.safetensors"));
  EXPECT_NE(r.out.find("Human:"), std::string::npos) << "sample responses are printed";

  // Rerun: every stage is complete and skipped; the summary is the same.
  auto again = sh(std::string(RLHF_BINARY) + " pipeline --preset tiny --threads 2 --out " + out);
  ASSERT_EQ(again.status, 0) << again.out;
  for (const char* stage : {"world", "pretrain", "sft", "eval"})
    EXPECT_NE(again.out.find(std::string("stage ") + stage + " is complete"), std::string::npos) << again.out;
  auto s2 = rlhf::io::read_json(out + "/summary.json");
  EXPECT_EQ(s2["sft"]["gold_mean"], s["sft"]["gold_mean"]);

  // An interrupted SFT stage (stage marker and final checkpoint gone) is redone from where it stopped.
  fs::remove(out + "/sft/stage.json");
  fs::remove(out + "/eval/stage.json");
  auto third = sh(std::string(RLHF_BINARY) + " pipeline --preset tiny --threads 2 --out " + out);
  ASSERT_EQ(third.status, 0) << third.out;
  EXPECT_NE(third.out.find("stage pretrain is complete"), std::string::npos) << third.out;
  EXPECT_NE(third.out.find("stage sft\n"), std::string::npos) << third.out;
  fs::remove_all(out);
}

TEST(PipelineIntegration, ConfigTypoAndBadValuesAreErrorsNamingTheKey) {
  std::string dir = tmp("cfg");
  fs::create_directories(dir);
  std::ofstream(dir + "/c.json") << R"({"sft_stepz": 3})";
  auto r = sh(std::string(RLHF_BINARY) + " pipeline --out " + dir + "/run --config " + dir + "/c.json");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("sft_stepz"), std::string::npos) << r.out;
  r = sh(std::string(RLHF_BINARY) + " pipeline --out " + dir + "/run --preset huge");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("tiny|default"), std::string::npos) << r.out;
  r = sh(std::string(RLHF_BINARY) + " sft --model x --data y --out " + dir + "/s --lr 5");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("--lr"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(PipelineIntegration, SftMalformedLineNamesFileAndLine) {
  std::string dir = tmp("badsft");
  // A tiny base model first (pipeline world + pretrain stages only would be slower; use pretrain).
  fs::create_directories(dir);
  std::ofstream(dir + "/corpus.txt") << [] {
    std::string s;
    for (int i = 0; i < 300; ++i) s += "The capital of Tarnis is Velo. Seven plus five is twelve.<|endoftext|>";
    return s;
  }();
  auto r = sh(std::string(RLHF_BINARY) + " pretrain --data " + dir + "/corpus.txt --out " + dir +
              "/base --vocab-size 300 --n-layer 1 --n-head 2 --d-model 16 --max-seq 32 --steps 2 --batch-size 2");
  ASSERT_EQ(r.status, 0) << r.out;
  std::ofstream(dir + "/bad.jsonl") << "{\"prompt\": \"\\n\\nHuman: hi\\n\\nAssistant:\", \"response\": \" yo\"}\n"
                                    << "{\"prompt\": \"oops\"\n";
  r = sh(std::string(RLHF_BINARY) + " sft --model " + dir + "/base/final --data " + dir + "/bad.jsonl --out " + dir +
         "/sft --steps 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("bad.jsonl:2"), std::string::npos) << r.out;
  fs::remove_all(dir);
}
