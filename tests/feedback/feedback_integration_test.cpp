// The annotation server as a separate process: a bounded load test on loopback (50 concurrent
// annotators, 10,000 labels, none lost or duplicated, p50/p99 latency), a kill -9 crash test,
// the CLI (import, token, export read back by the reward-model reader) and simulated annotators
// labelling through the API.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "rlhf/data/preference.h"
#include "rlhf/feedback/store.h"
#include "server_process.h"
#include "test_util.h"

using namespace rlhf::feedback;
using namespace rlhf::feedback::testing;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kAnnotators = 50;
constexpr int kLabels = 10000;

struct LoadResult {
  std::vector<int64_t> acked;            // label ids acknowledged with 201
  std::vector<double> post_ms, next_ms;  // latencies
  long long errors = 0;                  // transport errors (expected only when the server is killed)
  long long unexpected = 0;              // HTTP answers other than 200/201/204
  std::string first_unexpected;
};

// Sets up a database with `n_tasks` pair tasks (overlap 1) and `n_users` annotators.
std::vector<std::string> setup(const std::string& db, int n_tasks, int n_users) {
  Store s(db);
  std::vector<TaskInput> tasks;
  for (int i = 0; i < n_tasks; ++i) tasks.push_back(make_task("question " + std::to_string(i), double(i % 7)));
  s.add_tasks(tasks, 1.0);
  std::vector<std::string> tokens;
  for (int i = 0; i < n_users; ++i) tokens.push_back(s.create_user("load" + std::to_string(i), Role::Annotator));
  return tokens;
}

// 50 annotators label until the queue is empty, `stop` is set, or `deadline` passes.
LoadResult run_load(int port, const std::vector<std::string>& tokens, std::atomic<bool>& stop, double deadline_s,
                    std::atomic<long long>* acked_counter = nullptr) {
  LoadResult res;
  std::mutex mu;
  auto start = Clock::now();
  auto worker = [&](size_t i) {
    httplib::Client c("127.0.0.1", port);
    c.set_bearer_token_auth(tokens[i]);
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);
    c.set_connection_timeout(5);
    c.set_read_timeout(20);
    LoadResult mine;
    while (!stop && std::chrono::duration<double>(Clock::now() - start).count() < deadline_s) {
      auto t0 = Clock::now();
      auto r = c.Get("/api/tasks/next");
      auto t1 = Clock::now();
      if (!r) {
        ++mine.errors;
        break;
      }
      mine.next_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (r->status == 204) break;
      if (r->status != 200) {
        if (!mine.unexpected++) mine.first_unexpected = "GET next: " + std::to_string(r->status) + " " + r->body;
        break;
      }
      json t = json::parse(r->body)["task"];
      auto order = t["display_order"].get<std::vector<int>>();
      json label = {{"task_id", t["id"]}, {"chosen", order[0]}, {"rejected", order[1]}, {"strength", "better"}};
      auto t2 = Clock::now();
      auto p = c.Post("/api/labels", label.dump(), "application/json");
      auto t3 = Clock::now();
      if (!p) {
        ++mine.errors;  // no answer: not acknowledged
        break;
      }
      if (p->status != 201) {
        if (!mine.unexpected++) mine.first_unexpected = "POST: " + std::to_string(p->status) + " " + p->body;
        break;
      }
      mine.post_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
      mine.acked.push_back(json::parse(p->body)["label_id"].get<int64_t>());
      if (acked_counter) ++*acked_counter;
    }
    std::lock_guard<std::mutex> lock(mu);
    res.acked.insert(res.acked.end(), mine.acked.begin(), mine.acked.end());
    res.post_ms.insert(res.post_ms.end(), mine.post_ms.begin(), mine.post_ms.end());
    res.next_ms.insert(res.next_ms.end(), mine.next_ms.begin(), mine.next_ms.end());
    res.errors += mine.errors;
    if (mine.unexpected && !res.unexpected) res.first_unexpected = mine.first_unexpected;
    res.unexpected += mine.unexpected;
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < tokens.size(); ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  return res;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

const std::vector<std::string> kQuiet = {"--gold-rate", "0", "--duplicate-rate", "0"};

}  // namespace

TEST(FeedbackLoad, FiftyAnnotatorsTenThousandLabelsNoneLostOrDuplicated) {
  TempDb db;
  auto tokens = setup(db.path, kLabels, kAnnotators);
  ServerProcess server(db.path, kQuiet);
  std::atomic<bool> stop{false};
  auto t0 = Clock::now();
  LoadResult r = run_load(server.port(), tokens, stop, /*deadline_s=*/90);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.unexpected, 0) << r.first_unexpected;
  EXPECT_EQ(r.acked.size(), size_t(kLabels)) << "the queue must hand out every task exactly once";
  std::set<int64_t> ids(r.acked.begin(), r.acked.end());
  EXPECT_EQ(ids.size(), r.acked.size()) << "a label id was acknowledged twice";
  server.stop(SIGTERM);
  Store s(db.path);
  EXPECT_EQ(s.label_count(), int64_t(r.acked.size())) << "labels in the database != labels acknowledged";
  auto snap = s.snapshot();
  std::set<int64_t> tasks;
  for (const auto& l : snap.labels) tasks.insert(l.task_id);
  EXPECT_EQ(tasks.size(), snap.labels.size()) << "a task was labelled twice (overlap is 1)";
  EXPECT_EQ(s.integrity_check(), "ok");
  double p50 = percentile(r.post_ms, 0.5), p99 = percentile(r.post_ms, 0.99);
  std::printf("load: %zu labels by %d annotators in %.1f s (%.0f labels/s); POST /api/labels p50 %.2f ms p99 %.2f ms; "
              "GET /api/tasks/next p50 %.2f ms p99 %.2f ms\n",
              r.acked.size(), kAnnotators, secs, double(r.acked.size()) / secs, p50, p99, percentile(r.next_ms, 0.5),
              percentile(r.next_ms, 0.99));
  RecordProperty("labels_per_second", std::to_string(double(r.acked.size()) / secs));
  RecordProperty("post_p50_ms", std::to_string(p50));
  RecordProperty("post_p99_ms", std::to_string(p99));
}

TEST(FeedbackCrash, KillNineMidLoadKeepsEveryAcknowledgedLabel) {
  TempDb db;
  auto tokens = setup(db.path, kLabels, kAnnotators);
  auto server = std::make_unique<ServerProcess>(db.path, kQuiet);
  std::atomic<bool> stop{false};
  std::atomic<long long> acked{0};
  LoadResult r;
  std::thread load([&] { r = run_load(server->port(), tokens, stop, 60, &acked); });
  // Kill the server hard once a good share of the labels is in, while 50 clients are writing.
  auto t0 = Clock::now();
  while (acked < 3000 && std::chrono::duration<double>(Clock::now() - t0).count() < 60)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  int status = server->stop(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  stop = true;
  load.join();
  ASSERT_GE(r.acked.size(), 1000u);
  EXPECT_LT(r.acked.size(), size_t(kLabels)) << "the kill came after the load finished";
  EXPECT_GT(r.errors, 0) << "clients should have seen the server die";
  // Restart on the same file: every acknowledged label is there, the file is sound, and labelling
  // goes on where it stopped.
  ServerProcess again(db.path, kQuiet);
  {
    Store s(db.path);
    EXPECT_EQ(s.integrity_check(), "ok");
    auto snap = s.snapshot();
    std::set<int64_t> present;
    for (const auto& l : snap.labels) present.insert(l.id);
    size_t missing = 0;
    for (int64_t id : r.acked) missing += !present.count(id);
    EXPECT_EQ(missing, 0u) << "acknowledged labels lost in the crash";
    // Labels committed but not acknowledged: at most one in flight per client.
    EXPECT_LE(present.size(), r.acked.size() + size_t(kAnnotators));
    std::printf("crash: killed after %zu acknowledged labels; %zu in the database after restart; integrity ok\n",
                r.acked.size(), present.size());
  }
  std::atomic<bool> no{false};
  LoadResult rest = run_load(again.port(), tokens, no, 90);
  EXPECT_EQ(rest.unexpected, 0) << rest.first_unexpected;
  Store s(db.path);
  EXPECT_EQ(s.label_count(), int64_t(kLabels)) << "after the restart every task is labelled exactly once";
}

TEST(FeedbackCli, ImportTokenExportRoundTripThroughTheRewardReader) {
  TempDb db;
  std::string dir = db.path + ".d";
  run_command("mkdir -p " + dir);
  std::string tasks = dir + "/tasks.jsonl";
  {
    std::ofstream f(tasks);
    f << R"({"prompt":"\n\nHuman: Hi\n\nAssistant:","responses":[" Hello!"," Go away."],"priority":1})" << "\n";
    f << R"({"prompt":"\n\nHuman: 2+2?\n\nAssistant:","responses":[" 4"," 5"," four"]})" << "\n";
  }
  int st = 0;
  std::string bin = RLHF_BINARY;
  run_command(bin + " feedback import --db " + db.path + " " + tasks + " 2>&1", &st);
  ASSERT_EQ(st, 0);
  std::string token = run_command(bin + " feedback token --db " + db.path + " --role annotator --name alice", &st);
  ASSERT_EQ(st, 0);
  token.erase(token.find_last_not_of("\n") + 1);
  ASSERT_EQ(token.substr(0, 5), "rlhf_");
  ServerProcess server(db.path, kQuiet);
  httplib::Client c("127.0.0.1", server.port());
  c.set_bearer_token_auth(token);
  auto t1 = json::parse(c.Get("/api/tasks/next")->body)["task"];
  EXPECT_EQ(t1["prompt"], "\n\nHuman: Hi\n\nAssistant:");  // priority 1 first
  ASSERT_EQ(c.Post("/api/labels", R"({"task_id":1,"chosen":0,"rejected":1,"strength":"much_better"})", "application/json")
                ->status,
            201);
  c.Get("/api/tasks/next");
  ASSERT_EQ(c.Post("/api/labels", R"({"task_id":2,"ranking":[[0,2],1]})", "application/json")->status, 201);
  std::string out = run_command(bin + " feedback export --db " + db.path + " > " + dir + "/prefs.jsonl", &st);
  ASSERT_EQ(st, 0);
  auto set = rlhf::data::read_preferences(dir + "/prefs.jsonl");
  ASSERT_EQ(set.groups.size(), 2u);
  EXPECT_EQ(set.groups[0].responses[0], " Hello!");
  EXPECT_NEAR(set.groups[0].margin, 1.0, 1e-12);
  EXPECT_EQ(set.groups[0].annotator, "alice");
  EXPECT_EQ(set.groups[1].level, (std::vector<int>{0, 1, 0}));  // 0 and 2 tied best
  run_command(bin + " feedback token --db " + db.path + " --role annotator --name alice 2>/dev/null", &st);
  EXPECT_NE(st, 0);  // the name exists
  run_command("rm -rf " + dir);
}

TEST(FeedbackSimulate, WorldAnnotatorsLabelThroughTheApi) {
  TempDb db;
  std::vector<std::string> tokens;
  {
    Store s(db.path);
    std::vector<TaskInput> tasks;
    for (int i = 0; i < 30; ++i) {
      TaskInput t;
      t.prompt = "\n\nHuman: What is " + std::to_string(i) + " plus 2?\n\nAssistant:";
      t.responses = {" It is " + std::to_string(i + 2) + ".", " no idea lol", " " + std::to_string(i + 2)};
      t.overlap = 2;
      tasks.push_back(t);
    }
    s.add_tasks(tasks, 1.0);
    for (int i = 0; i < 3; ++i) tokens.push_back(s.create_user("sim" + std::to_string(i), Role::Annotator));
  }
  ServerProcess server(db.path, kQuiet);
  int st = 0;
  std::string cmd = std::string(RLHF_BINARY) + " feedback simulate --url http://127.0.0.1:" +
                    std::to_string(server.port()) + " --tokens " + tokens[0] + " " + tokens[1] + " " + tokens[2] +
                    " --seed 3 2>&1";
  std::string out = run_command(cmd, &st);
  EXPECT_EQ(st, 0) << out;
  Store s(db.path);
  EXPECT_EQ(s.label_count(), 60) << out;  // 30 tasks x overlap 2
  // Ranking mode on five new 3-response tasks.
  std::vector<TaskInput> more;
  for (int i = 0; i < 5; ++i) {
    TaskInput t;
    t.prompt = "\n\nHuman: Name a colour number " + std::to_string(i) + ".\n\nAssistant:";
    t.responses = {" Blue.", " I refuse.", " Red is a colour."};
    more.push_back(t);
  }
  s.add_tasks(more, 2.0);
  std::string cmd2 = std::string(RLHF_BINARY) + " feedback simulate --mode ranking --url http://127.0.0.1:" +
                     std::to_string(server.port()) + " --token " + tokens[0] + " 2>&1";
  out = run_command(cmd2, &st);
  EXPECT_EQ(st, 0) << out;
  auto snap = s.snapshot();
  int rankings = 0;
  for (const auto& l : snap.labels) rankings += l.kind == "ranking" && l.ranking.size() >= 1;
  EXPECT_EQ(rankings, 5);
  EXPECT_EQ(s.label_count(), 65);
}
