// Task records: responses or chosen/rejected, priorities from any field, gold answers.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "rlhf/feedback/import.h"

using namespace rlhf::feedback;
using rlhf::io::json;

TEST(FeedbackImport, ParsesTaskRecords) {
  rlhf::io::Where w{"t.jsonl", 3};
  ImportOptions o;
  auto t = parse_task_record(json::parse(R"({"prompt":"P","responses":["a","b","c"],"priority":0.7,"id":5})"), w, o);
  EXPECT_EQ(t.responses.size(), 3u);
  EXPECT_DOUBLE_EQ(t.priority, 0.7);
  EXPECT_EQ(t.external_id, "5");
  EXPECT_TRUE(t.gold_levels.empty());
  o.priority_field = "disagreement";
  auto p = parse_task_record(json::parse(R"({"prompt":"P","chosen":"x","rejected":"y","disagreement":2})"), w, o);
  EXPECT_EQ(p.responses, (std::vector<std::string>{"x", "y"}));
  EXPECT_DOUBLE_EQ(p.priority, 2);
  auto g = parse_task_record(json::parse(R"({"prompt":"P","responses":["a","b"],"gold_answer":{"chosen":1,"rejected":0}})"),
                             w, o);
  EXPECT_EQ(g.gold_levels, (std::vector<int>{1, 0}));
  o.gold_from_scores = true;
  auto s = parse_task_record(json::parse(R"({"prompt":"P","responses":["a","b","c"],"gold":[0.1,0.9,0.1]})"), w, o);
  EXPECT_EQ(s.gold_levels, (std::vector<int>{1, 0, 1}));
}

TEST(FeedbackImport, ErrorsNameTheLineAndField) {
  rlhf::io::Where w{"t.jsonl", 9};
  ImportOptions o;
  try {
    parse_task_record(json::parse(R"({"prompt":"P","responses":["only one"]})"), w, o);
    FAIL();
  } catch (const rlhf::Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.jsonl:9"), std::string::npos);
  }
  EXPECT_THROW(parse_task_record(json::parse(R"({"responses":["a","b"]})"), w, o), rlhf::Error);
  EXPECT_THROW(parse_task_record(json::parse(R"({"prompt":"P","responses":["a",2]})"), w, o), rlhf::Error);
  EXPECT_THROW(parse_task_record(json::parse(R"({"prompt":"P","responses":["a","b"],"priority":"high"})"), w, o),
               rlhf::Error);
}

TEST(FeedbackImport, GroupsGenerateOutputByPrompt) {
  // Two `rlhf generate` runs concatenated: one {"prompt", "response"} record per line.
  std::string path = "/tmp/rlhf_fb_import_" + std::to_string(getpid()) + ".jsonl";
  {
    std::ofstream f(path);
    f << R"({"prompt":"A","response":" a1","finished":true,"priority":3})" << "\n";
    f << R"({"prompt":"B","response":" b1"})" << "\n";
    f << R"({"prompt":"C","responses":[" c1"," c2"]})" << "\n";
    f << R"({"prompt":"A","response":" a2"})" << "\n";
    f << R"({"prompt":"B","response":" b1"})" << "\n";  // same text twice: B has one distinct response
    f << R"({"prompt":"A","response":" a1"})" << "\n";
  }
  size_t skipped = 0;
  auto tasks = read_tasks(path, ImportOptions{}, &skipped);
  std::remove(path.c_str());
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].prompt, "A");
  EXPECT_EQ(tasks[0].responses, (std::vector<std::string>{" a1", " a2"}));
  EXPECT_DOUBLE_EQ(tasks[0].priority, 3);
  EXPECT_FALSE(tasks[0].meta.contains("finished"));
  EXPECT_EQ(tasks[1].prompt, "C");
  EXPECT_EQ(skipped, 1u);
}
