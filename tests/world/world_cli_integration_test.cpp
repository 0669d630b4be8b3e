// `rlhf world ...` end to end: launches the real binary, checks the JSONL records and their exact
// keys, byte-identical output for the same seed, --out files, and errors for bad flags.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

using nlohmann::json;

namespace {
struct CliRun {
  int status = -1;
  std::string out;
};

CliRun run(const std::string& args) {
  std::string cmd = std::string(RLHF_BINARY) + " " + args + " 2>/dev/null";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

std::vector<json> lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

std::set<std::string> keys(const json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

std::string tmp(const std::string& name) {
  return (testing::TempDir().empty() ? std::string("/tmp/") : testing::TempDir()) + "rlhf_world_" +
         std::to_string(getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST(WorldCli, PromptsAreSeededAndUseTheRecordFormat) {
  CliRun a = run("world prompts --split val --n 40 --seed 3"), b = run("world prompts --split val --n 40 --seed 3");
  ASSERT_EQ(a.status, 0);
  EXPECT_EQ(a.out, b.out);
  auto recs = lines(a.out);
  ASSERT_EQ(recs.size(), 40u);
  for (const auto& r : recs) {
    EXPECT_EQ(keys(r), (std::set<std::string>{"id", "kind", "prompt"}));
    EXPECT_EQ(r["prompt"].get<std::string>().rfind("\n\nHuman: ", 0), 0u);
  }
  EXPECT_NE(run("world prompts --split val --n 40 --seed 4").out, a.out);
  EXPECT_NE(run("world prompts --split dev --n 4").status, 0);
}

TEST(WorldCli, DemosJudgeAndLabel) {
  std::string demos = tmp("demos.jsonl");
  ASSERT_EQ(run("world demos --n 30 --seed 1 --out " + demos).status, 0);
  auto recs = lines(slurp(demos));
  ASSERT_EQ(recs.size(), 30u);
  for (const auto& r : recs) EXPECT_EQ(keys(r), (std::set<std::string>{"prompt", "response"}));

  CliRun judged = run("world judge --in " + demos);
  ASSERT_EQ(judged.status, 0);
  auto js = lines(judged.out);
  ASSERT_EQ(js.size(), 30u);
  for (const auto& j : js) {
    EXPECT_EQ(keys(j), (std::set<std::string>{"prompt", "response", "gold", "helpful", "harmless", "concise", "form"}));
    double g = j["gold"];
    EXPECT_GE(g, -1.0);
    EXPECT_LE(g, 1.0);
  }

  std::string cands = tmp("cands.jsonl");
  {
    std::ofstream out(cands);
    out << json{{"prompt", "\n\nHuman: What is 7 plus 5?\n\nAssistant:"},
                {"responses", {" 7 plus 5 is 12.", " 7 plus 5 is 13.", " I can't help with that."}}}
                   .dump()
        << "\n";
  }
  CliRun pairs = run("world label --annotators 3 --per-record 2 --temperature 0 --flip-rate 0 --in " + cands);
  ASSERT_EQ(pairs.status, 0);
  auto ps = lines(pairs.out);
  ASSERT_EQ(ps.size(), 6u);  // 3 pairs x 2 annotators
  std::set<std::string> annotators;
  for (const auto& p : ps) {
    EXPECT_EQ(keys(p), (std::set<std::string>{"prompt", "chosen", "rejected", "strength", "annotator"}));
    annotators.insert(p["annotator"].get<std::string>());
    if (p["rejected"] == " 7 plus 5 is 12.") ADD_FAILURE() << "the correct answer lost at temperature 0";
  }
  EXPECT_EQ(annotators.size(), 2u);
  CliRun ranks = run("world label --annotators 2 --rankings --temperature 0 --flip-rate 0 --in " + cands);
  ASSERT_EQ(ranks.status, 0);
  auto rs = lines(ranks.out);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(keys(rs[0]), (std::set<std::string>{"prompt", "responses", "ranking", "annotator"}));
  EXPECT_EQ(rs[0]["ranking"], json({0, 1, 2}));  // gold 1.0 > 0.2 > -0.2
  std::remove(demos.c_str());
  std::remove(cands.c_str());
}

TEST(WorldCli, CorpusIsSeeded) {
  CliRun a = run("world corpus --tokens 3000 --seed 5"), b = run("world corpus --tokens 3000 --seed 5");
  ASSERT_EQ(a.status, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("<|endoftext|>"), std::string::npos);
  EXPECT_NE(run("world corpus --tokens 3000 --seed 6").out, a.out);
  CliRun j = run("world corpus --tokens 3000 --seed 5 --format jsonl");
  ASSERT_EQ(j.status, 0);
  for (const auto& r : lines(j.out)) EXPECT_EQ(keys(r), (std::set<std::string>{"text"}));
}
