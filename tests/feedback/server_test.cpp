// The HTTP API in-process on a loopback port: the happy path and the security answers (401, 403,
// 413, 400, 404), injection strings stored verbatim, and the UI's security headers.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "rlhf/feedback/server.h"
#include "test_util.h"

using namespace rlhf::feedback;
using rlhf::feedback::testing::make_task;
using rlhf::feedback::testing::TempDb;

namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store = std::make_unique<Store>(db.path);
    store->add_tasks({make_task("one"), make_task("two", 0, 3), make_task("three")}, 1.0);
    ann1 = store->create_user("ann1", Role::Annotator);
    ann2 = store->create_user("ann2", Role::Annotator);
    admin = store->create_user("boss", Role::Admin);
    ServerConfig c;
    c.port = 0;
    c.max_body_bytes = 4096;
    c.guidelines = "# Be kind\nPrefer *helpful* answers.";
    c.queue.gold_rate = 0;
    c.queue.duplicate_rate = 0;
    server = std::make_unique<Server>(*store, c);
    port = server->bind();
    thread = std::thread([this] { server->run(); });
    for (int i = 0; i < 200 && !server->running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server->stop();
    thread.join();
  }
  httplib::Client client(const std::string& token) {
    httplib::Client c("127.0.0.1", port);
    if (!token.empty()) c.set_bearer_token_auth(token);
    return c;
  }
  json body(const httplib::Result& r) { return json::parse(r->body); }
  int64_t next_id(const std::string& token) {
    auto r = client(token).Get("/api/tasks/next");
    EXPECT_EQ(r->status, 200);
    return body(r)["task"]["id"].get<int64_t>();
  }

  TempDb db;
  std::unique_ptr<Store> store;
  std::unique_ptr<Server> server;
  std::thread thread;
  int port = 0;
  std::string ann1, ann2, admin;
};

}  // namespace

TEST_F(ServerTest, AnnotatorFlowNextLabelUndo) {
  auto c = client(ann1);
  auto r = c.Get("/api/tasks/next");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json t = body(r)["task"];
  EXPECT_EQ(t["id"], 1);
  EXPECT_EQ(t["responses"].size(), 2u);
  EXPECT_EQ(t["display_order"].size(), 2u);
  EXPECT_EQ(t["prompt"], "\n\nHuman: one\n\nAssistant:");
  auto p = c.Post("/api/labels", R"({"task_id":1,"chosen":1,"rejected":0,"strength":"slightly_better","flags":["unsafe"]})",
                  "application/json");
  ASSERT_EQ(p->status, 201);
  int64_t id = body(p)["label_id"];
  auto me = body(c.Get("/api/me"));
  EXPECT_EQ(me["labels"], 1);
  EXPECT_EQ(me["remaining"], 2);
  auto g = body(c.Get("/api/guidelines"));
  EXPECT_EQ(g["text"], "# Be kind\nPrefer *helpful* answers.");
  auto rk = c.Post("/api/labels", R"({"task_id":2,"ranking":[2,[0,1]]})", "application/json");
  ASSERT_EQ(rk->status, 201);
  auto u = c.Delete("/api/labels/last");
  ASSERT_EQ(u->status, 200);
  EXPECT_EQ(body(u)["task_id"], 2);
  EXPECT_EQ(next_id(ann1), 2);  // handed back after the undo
  auto mine = body(c.Get("/api/labels"));
  ASSERT_EQ(mine["labels"].size(), 1u);
  EXPECT_EQ(mine["labels"][0]["label_id"], id);
  EXPECT_EQ(mine["labels"][0]["strength"], "slightly_better");
  auto fb = c.Post("/api/feedback", R"({"prompt":"p","response":"r","thumbs":"down","rating":2})", "application/json");
  EXPECT_EQ(fb->status, 201);
  // Everything for this annotator is labelled -> 204.
  c.Post("/api/labels", R"({"task_id":2,"chosen":0,"rejected":2,"strength":"tie"})", "application/json");
  EXPECT_EQ(next_id(ann1), 3);
  c.Post("/api/labels", R"({"task_id":3,"chosen":0,"rejected":1,"strength":"both_bad"})", "application/json");
  EXPECT_EQ(c.Get("/api/tasks/next")->status, 204);
}

TEST_F(ServerTest, AuthenticationAndAuthorization) {
  EXPECT_EQ(client("").Get("/api/tasks/next")->status, 401);
  EXPECT_EQ(client("not-a-token").Get("/api/tasks/next")->status, 401);
  EXPECT_EQ(client("").Post("/api/labels", "{}", "application/json")->status, 401);
  EXPECT_EQ(client("").Get("/api/admin/stats")->status, 401);
  EXPECT_EQ(client(ann1).Get("/api/admin/stats")->status, 403);
  EXPECT_EQ(client(ann1).Get("/api/admin/labels")->status, 403);
  EXPECT_EQ(client(ann1).Get("/api/admin/export")->status, 403);
  auto st = client(admin).Get("/api/admin/stats");
  ASSERT_EQ(st->status, 200);
  EXPECT_TRUE(body(st).contains("annotators"));
  // ann2's label: ann1 may neither read nor delete it; ann2 and the admin may read it.
  next_id(ann2);
  auto p = client(ann2).Post("/api/labels", R"({"task_id":1,"chosen":0,"rejected":1,"strength":"better"})",
                             "application/json");
  ASSERT_EQ(p->status, 201);
  std::string path = "/api/labels/" + std::to_string(body(p)["label_id"].get<int64_t>());
  EXPECT_EQ(client(ann1).Get(path.c_str())->status, 403);
  EXPECT_EQ(client(ann1).Delete(path.c_str())->status, 403);
  EXPECT_EQ(client(ann2).Get(path.c_str())->status, 200);
  EXPECT_EQ(client(admin).Get(path.c_str())->status, 200);
  EXPECT_EQ(client(ann1).Get("/api/labels/99999")->status, 404);
  // ann1's undo does not touch ann2's label.
  EXPECT_EQ(client(ann1).Delete("/api/labels/last")->status, 404);
  EXPECT_EQ(store->label_count(), 1);
  // The error bodies are JSON saying what is wrong.
  auto e = client(ann1).Get(path.c_str());
  EXPECT_NE(body(e)["error"].get<std::string>().find("not yours"), std::string::npos);
}

TEST_F(ServerTest, ValidationAnswers) {
  auto c = client(ann1);
  auto post = [&](const std::string& b) { return c.Post("/api/labels", b, "application/json"); };
  auto big = post(std::string(8000, ' ') + "{}");
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("too large"), std::string::npos);
  EXPECT_EQ(post("{not json")->status, 400);
  EXPECT_EQ(post("[1,2]")->status, 400);
  EXPECT_EQ(post(R"({"task_id":"1","chosen":0,"rejected":1,"strength":"better"})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":1,"chosen":0.5,"rejected":1,"strength":"better"})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":1,"chosen":0,"rejected":1,"strength":"awesome"})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":1,"chosen":0,"rejected":1})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":1,"chosen":0,"rejected":1,"strength":"better","colour":"red"})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":1,"chosen":0,"rejected":1,"strength":"better","flags":["weird"]})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":1,"chosen":0,"rejected":7,"strength":"better"})")->status, 400);
  EXPECT_EQ(post(R"({"task_id":424242,"chosen":0,"rejected":1,"strength":"better"})")->status, 404);
  EXPECT_EQ(post(R"({"task_id":2,"ranking":[0,1]})")->status, 400);
  EXPECT_EQ(c.Post("/api/feedback", R"({"prompt":"p","response":"r","rating":9})", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/api/feedback", R"({"prompt":"p","response":"r"})", "application/json")->status, 400);
  EXPECT_EQ(c.Get("/api/nothing-here")->status, 404);
  auto bad = post(R"({"task_id":1,"chosen":0,"rejected":1,"strength":"awesome"})");
  EXPECT_NE(body(bad)["error"].get<std::string>().find("strength"), std::string::npos);
  EXPECT_EQ(store->label_count(), 0);
}

TEST_F(ServerTest, InjectionStringsAreStoredVerbatim) {
  const std::string nasty = "Robert'); DROP TABLE labels;-- <script>window.__pwned=1</script><img src=x onerror=alert(1)>";
  next_id(ann1);
  json req = {{"task_id", 1}, {"chosen", 0}, {"rejected", 1}, {"strength", "better"}, {"rationale", nasty}};
  auto p = client(ann1).Post("/api/labels", req.dump(), "application/json");
  ASSERT_EQ(p->status, 201);
  auto got = body(client(ann1).Get(("/api/labels/" + std::to_string(body(p)["label_id"].get<int64_t>())).c_str()));
  EXPECT_EQ(got["label"]["rationale"], nasty);
  EXPECT_EQ(store->integrity_check(), "ok");
  EXPECT_EQ(store->label_count(), 1);  // the table is still there
}

TEST_F(ServerTest, ServesTheUiWithSecurityHeaders) {
  auto r = client("").Get("/");
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("rlhf annotation"), std::string::npos);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(client("").Get("/app.js")->status, 200);
  EXPECT_EQ(client("").Get("/admin")->status, 200);
  EXPECT_EQ(client("").Get("/missing.js")->status, 404);
  EXPECT_EQ(client("").Get("/healthz")->status, 200);
}
