// The store and its queue: WAL + migrations, priorities, overlap, no repeats, time-outs, undo,
// gold tasks and swapped duplicates, validation answers.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "rlhf/feedback/store.h"
#include "test_util.h"

using namespace rlhf::feedback;
using rlhf::feedback::testing::make_task;
using rlhf::feedback::testing::TempDb;

namespace {

QueueConfig plain_queue() {
  QueueConfig q;
  q.gold_rate = 0;
  q.duplicate_rate = 0;
  q.assignment_timeout_s = 100;
  return q;
}

LabelInput pair_label(int64_t task, int chosen, int rejected, Strength s = Strength::Better) {
  LabelInput in;
  in.task_id = task;
  in.kind = "pair";
  in.chosen = chosen;
  in.rejected = rejected;
  in.strength = s;
  return in;
}

int status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

}  // namespace

TEST(FeedbackStore, CreatesSchemaInWalModeAndReopens) {
  TempDb db;
  {
    Store s(db.path);
    EXPECT_EQ(s.schema_version(), Store::kSchemaVersion);
    EXPECT_EQ(s.integrity_check(), "ok");
    s.add_tasks({make_task("a")}, 1.0);
  }
  Store again(db.path);  // migrations are not re-run on an up-to-date database
  EXPECT_EQ(again.schema_version(), Store::kSchemaVersion);
  EXPECT_TRUE(again.task(1).has_value());
  // The journal mode is stored in the file: an independent connection sees WAL, and foreign keys
  // are enforced on the store's connection (a label for a missing user is refused by SQLite).
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(db.path.c_str(), &raw), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(raw);
  User ghost{12345, "ghost", Role::Annotator};
  EXPECT_THROW(again.add_label(ghost, LabelInput{1, "pair", 0, 1}, 2.0), rlhf::Error);
}

TEST(FeedbackStore, TokensAreHashedAndRolesKept) {
  TempDb db;
  Store s(db.path);
  std::string t = s.create_user("ann", Role::Annotator);
  std::string a = s.create_user("boss", Role::Admin);
  auto u = s.user_by_token(t);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->name, "ann");
  EXPECT_EQ(u->role, Role::Annotator);
  EXPECT_EQ(s.user_by_token(a)->role, Role::Admin);
  EXPECT_FALSE(s.user_by_token(t + "x"));
  EXPECT_THROW(s.create_user("ann", Role::Annotator), rlhf::Error);
  std::string t2 = s.create_user("ann", Role::Annotator, true);  // rotate: the old token stops working
  EXPECT_FALSE(s.user_by_token(t));
  EXPECT_TRUE(s.user_by_token(t2));
}

TEST(FeedbackStore, QueueServesHighestPriorityThenOldest) {
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("low", 0.1), make_task("high", 0.9), make_task("also-low", 0.1)}, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  QueueConfig q = plain_queue();
  std::vector<int64_t> order;
  for (int i = 0; i < 3; ++i) {
    auto t = s.next_task(a, q, 10.0 + i);
    ASSERT_TRUE(t);
    order.push_back(t->task.id);
    s.add_label(a, pair_label(t->task.id, 0, 1), 10.5 + i);
  }
  EXPECT_EQ(order, (std::vector<int64_t>{2, 1, 3}));
  EXPECT_FALSE(s.next_task(a, q, 20.0));  // nothing left
  EXPECT_EQ(s.remaining_for(a), 0);
}

TEST(FeedbackStore, OverlapNoRepeatsAndTimeouts) {
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("t", 0, 2, /*overlap=*/2)}, 1.0);
  for (auto n : {"a", "b", "c"}) s.create_user(n, Role::Annotator);
  auto users = s.users();
  QueueConfig q = plain_queue();
  auto ta = s.next_task(users[0], q, 10);
  ASSERT_TRUE(ta);
  // The same annotator asking again gets the same hand-out, shown the same way.
  auto again = s.next_task(users[0], q, 11);
  EXPECT_EQ(again->task.id, ta->task.id);
  EXPECT_EQ(again->display_order, ta->display_order);
  auto tb = s.next_task(users[1], q, 12);
  ASSERT_TRUE(tb);  // overlap 2: a second annotator gets it too
  EXPECT_FALSE(s.next_task(users[2], q, 13));  // both slots held
  // b walks away: after the time-out the task returns to the queue, for c.
  auto tc = s.next_task(users[2], q, 12 + q.assignment_timeout_s + 1);
  ASSERT_TRUE(tc);
  EXPECT_EQ(tc->task.id, ta->task.id);
  s.add_label(users[0], pair_label(ta->task.id, 0, 1), 20);
  EXPECT_FALSE(s.next_task(users[0], q, 21));  // never the same task twice
  EXPECT_EQ(status_of([&] { s.add_label(users[0], pair_label(ta->task.id, 1, 0), 22); }), 409);
  s.add_label(users[2], pair_label(ta->task.id, 1, 0), 23);
  EXPECT_EQ(s.task(ta->task.id)->n_labels, 2);
}

TEST(FeedbackStore, RecordsDisplayOrderPositionAndSeconds) {
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("t")}, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  auto t = s.next_task(a, plain_queue(), 100);
  ASSERT_EQ(t->display_order.size(), 2u);
  int left = t->display_order[0], right = t->display_order[1];
  int64_t id = s.add_label(a, pair_label(t->task.id, left, right), 107.5);
  auto l = s.label(id);
  EXPECT_EQ(l->display_order, t->display_order);
  ASSERT_TRUE(l->chosen_left);
  EXPECT_TRUE(*l->chosen_left);
  EXPECT_NEAR(*l->seconds, 7.5, 1e-9);
}

TEST(FeedbackStore, DisplayOrdersDifferAcrossAnnotators) {
  TempDb db;
  Store s(db.path);
  std::vector<TaskInput> tasks;
  for (int i = 0; i < 40; ++i) tasks.push_back(make_task("t" + std::to_string(i), 0, 2, 2));
  s.add_tasks(tasks, 1.0);
  s.create_user("a", Role::Annotator);
  s.create_user("b", Role::Annotator);
  auto users = s.users();
  int swapped = 0, a_left0 = 0;
  for (int i = 0; i < 40; ++i) {
    auto ta = s.next_task(users[0], plain_queue(), 10 + i);
    auto tb = s.next_task(users[1], plain_queue(), 10 + i);
    ASSERT_EQ(ta->task.id, tb->task.id);
    swapped += ta->display_order != tb->display_order;
    a_left0 += ta->display_order[0] == 0;
    s.add_label(users[0], pair_label(ta->task.id, 0, 1), 11 + i);
    s.add_label(users[1], pair_label(tb->task.id, 0, 1), 11 + i);
  }
  // Independent fair coins: 40 draws land far from 0 and 40 (binomial sd ~3.2).
  EXPECT_GT(swapped, 8);
  EXPECT_LT(swapped, 32);
  EXPECT_GT(a_left0, 8);
  EXPECT_LT(a_left0, 32);
}

TEST(FeedbackStore, UndoRemovesTheLastLabelAndHandsTheTaskBack) {
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("x"), make_task("y")}, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  QueueConfig q = plain_queue();
  auto t1 = s.next_task(a, q, 10);
  s.add_label(a, pair_label(t1->task.id, 0, 1), 11);
  auto t2 = s.next_task(a, q, 12);
  int64_t l2 = s.add_label(a, pair_label(t2->task.id, 1, 0, Strength::Tie), 13);
  auto undone = s.undo_last(a, q, 14);
  ASSERT_TRUE(undone);
  EXPECT_EQ(undone->id, l2);
  EXPECT_FALSE(s.label(l2));
  EXPECT_EQ(s.label_count(), 1);
  auto back = s.next_task(a, q, 15);
  EXPECT_EQ(back->task.id, t2->task.id);
  EXPECT_EQ(back->display_order, t2->display_order);
  s.undo_last(a, q, 16);
  ASSERT_TRUE(s.undo_last(a, q, 17) == std::nullopt);
}

TEST(FeedbackStore, ValidatesLabelsAgainstTheTask) {
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("x", 0, 3)}, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  EXPECT_EQ(status_of([&] { s.add_label(a, pair_label(99, 0, 1), 1); }), 404);
  EXPECT_EQ(status_of([&] { s.add_label(a, pair_label(1, 0, 3), 1); }), 400);
  EXPECT_EQ(status_of([&] { s.add_label(a, pair_label(1, 1, 1), 1); }), 400);
  LabelInput r;
  r.task_id = 1;
  r.kind = "ranking";
  r.ranking = {{0}, {1}};
  EXPECT_EQ(status_of([&] { s.add_label(a, r, 1); }), 400);  // response 2 missing
  r.ranking = {{0}, {1, 1}, {2}};
  EXPECT_EQ(status_of([&] { s.add_label(a, r, 1); }), 400);  // listed twice
  r.ranking = {{2}, {0, 1}};
  int64_t id = s.add_label(a, r, 1);
  EXPECT_EQ(s.label(id)->ranking, r.ranking);
  EXPECT_EQ(s.integrity_check(), "ok");
}

TEST(FeedbackStore, GoldTasksAndSwappedDuplicatesAreMixedIn) {
  TempDb db;
  Store s(db.path);
  std::vector<TaskInput> tasks;
  for (int i = 0; i < 60; ++i) tasks.push_back(make_task("n" + std::to_string(i)));
  for (int i = 0; i < 10; ++i) {
    auto g = make_task("g" + std::to_string(i));
    g.gold_levels = {0, 1};
    tasks.push_back(g);
  }
  s.add_tasks(tasks, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  QueueConfig q = plain_queue();
  q.gold_rate = 0.2;
  q.duplicate_rate = 0.2;
  std::map<std::string, int> kinds;
  std::map<int64_t, std::vector<int>> shown;
  for (int i = 0; i < 50; ++i) {
    auto t = s.next_task(a, q, 10 + i);
    ASSERT_TRUE(t);
    kinds[t->task.kind]++;
    shown[t->task.id] = t->display_order;
    if (t->task.kind == "duplicate") {
      // The duplicate repeats an earlier task, shown the other way round.
      auto orig = shown.at(t->task.duplicate_of);
      std::reverse(orig.begin(), orig.end());
      EXPECT_EQ(t->display_order, orig);
      EXPECT_EQ(t->task.prompt, s.task(t->task.duplicate_of)->prompt);
    }
    s.add_label(a, pair_label(t->task.id, 0, 1), 10.5 + i);
  }
  EXPECT_GT(kinds["gold"], 2);
  EXPECT_GT(kinds["duplicate"], 2);
  EXPECT_GT(kinds["normal"], 20);
  // Another annotator never sees a's duplicates.
  s.create_user("b", Role::Annotator);
  User b = s.users()[1];
  auto snap = s.snapshot();
  for (const auto& t : snap.tasks)
    if (t.kind == "duplicate") {
      EXPECT_EQ(t.owner_id, a.id);
      EXPECT_EQ(status_of([&] { s.add_label(b, pair_label(t.id, 0, 1), 99); }), 404);
    }
}

TEST(FeedbackStore, UndoShowsTheUndoneTaskBeforeAPendingOne) {
  // The UI fetches the next task right after a label, so an annotator who undoes already holds
  // the following task; the undone one must come back first.
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("x"), make_task("y")}, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  QueueConfig q = plain_queue();
  auto t1 = s.next_task(a, q, 10);
  s.add_label(a, pair_label(t1->task.id, 0, 1), 11);
  auto t2 = s.next_task(a, q, 12);  // now holding task 2
  ASSERT_NE(t2->task.id, t1->task.id);
  s.undo_last(a, q, 13);
  EXPECT_EQ(s.next_task(a, q, 14)->task.id, t1->task.id);
  s.add_label(a, pair_label(t1->task.id, 1, 0), 15);
  EXPECT_EQ(s.next_task(a, q, 16)->task.id, t2->task.id);  // the pending one is still theirs
}

TEST(FeedbackStore, LabelIdsAreNeverReusedAfterAnUndo) {
  TempDb db;
  Store s(db.path);
  s.add_tasks({make_task("x")}, 1.0);
  s.create_user("a", Role::Annotator);
  User a = s.users()[0];
  auto t = s.next_task(a, plain_queue(), 10);
  int64_t first = s.add_label(a, pair_label(t->task.id, 0, 1), 11);
  s.undo_last(a, plain_queue(), 12);
  int64_t second = s.add_label(a, pair_label(t->task.id, 1, 0), 13);
  EXPECT_GT(second, first);
}
