// Per-annotator quality and agreement statistics on a hand-built snapshot.
#include <gtest/gtest.h>

#include "rlhf/feedback/stats.h"

using namespace rlhf::feedback;

namespace {

Task task(int64_t id, const std::string& kind = "normal") {
  Task t;
  t.id = id;
  t.kind = kind;
  t.prompt = "p" + std::to_string(id);
  t.responses = {"r0", "r1"};
  return t;
}

Label pair(int64_t id, int64_t task, int64_t user, int chosen, Strength s = Strength::Better,
           std::optional<bool> left = std::nullopt, double secs = 1) {
  Label l;
  l.id = id;
  l.task_id = task;
  l.user_id = user;
  l.user_name = "u" + std::to_string(user);
  l.kind = "pair";
  l.chosen = chosen;
  l.rejected = 1 - chosen;
  l.strength = s;
  l.chosen_left = left;
  l.seconds = secs;
  l.created_at = 3600.0 * double(id);
  return l;
}

}  // namespace

TEST(FeedbackStats, AnnotatorQualityHandComputed) {
  Snapshot s;
  s.users = {{1, "u1", Role::Annotator}, {2, "u2", Role::Annotator}, {3, "u3", Role::Annotator}};
  s.tasks = {task(1), task(2), task(3, "gold"), task(4, "duplicate")};
  s.tasks[2].gold_levels = {0, 1};  // response 0 is the gold answer
  s.tasks[3].duplicate_of = 1;
  s.tasks[3].owner_id = 1;
  // Task 1: u1 and u2 choose 0, u3 chooses 1. Task 2: all choose 1, except u3 calls it a tie.
  // Gold task 3: u1 right, u2 wrong. Duplicate 4 of task 1 for u1: u1 flips to 1 (inconsistent).
  s.labels = {pair(1, 1, 1, 0, Strength::Better, true, 2),  pair(2, 1, 2, 0, Strength::Better, false, 4),
              pair(3, 1, 3, 1, Strength::Better, true, 6),  pair(4, 2, 1, 1, Strength::Better, true, 4),
              pair(5, 2, 2, 1, Strength::MuchBetter, true), pair(6, 2, 3, 0, Strength::Tie),
              pair(7, 3, 1, 0, Strength::Better, true),     pair(8, 3, 2, 1, Strength::Better, true),
              pair(9, 4, 1, 1, Strength::Better, false, 10)};
  auto st = annotator_stats(s);
  ASSERT_EQ(st.size(), 3u);
  const auto& u1 = st[0];
  // Agreement, leave-one-out plurality: task 1 others of u1 = {u2:0, u3:1} -> no unique plurality;
  // task 2 others of u1 = {u2: second, u3: tie} -> none. Gold task 3 others of u1 = {u2: second} -> u1 said
  // first: disagree. So u1: 0 of 1.
  EXPECT_EQ(u1.agreement_n, 1);
  EXPECT_NEAR(*u1.agreement, 0.0, 1e-12);
  // u3 on task 1: others {first, first} -> plurality first; u3 said second: disagree. Task 2: others
  // {second, second}: u3 tie: disagree -> 0 of 2.
  EXPECT_EQ(st[2].agreement_n, 2);
  EXPECT_NEAR(*st[2].agreement, 0.0, 1e-12);
  // u2: task 1 others {u1 first, u3 second}: none; task 2 others {second, tie}: none; gold: others {first}:
  // u2 said second: 0 of 1.
  EXPECT_EQ(st[1].agreement_n, 1);
  EXPECT_NEAR(*u1.gold_accuracy, 1.0, 1e-12);
  EXPECT_NEAR(*st[1].gold_accuracy, 0.0, 1e-12);
  EXPECT_FALSE(st[2].gold_accuracy);
  EXPECT_EQ(u1.duplicate_n, 1);
  EXPECT_NEAR(*u1.self_consistency, 0.0, 1e-12);
  // Position: u1 chose left on labels 1, 4, 7 and right on 9: 3 of 4.
  EXPECT_EQ(u1.position_n, 4);
  EXPECT_NEAR(*u1.left_share, 0.75, 1e-12);
  // Median seconds of u1: {2, 4, 1, 10} -> 3.
  EXPECT_NEAR(*u1.median_seconds, 3.0, 1e-12);
  EXPECT_EQ(u1.labels, 4);
}

TEST(FeedbackStats, DashboardCountsKappaAndDistribution) {
  Snapshot s;
  s.users = {{1, "u1", Role::Annotator}, {2, "u2", Role::Annotator}, {9, "boss", Role::Admin}};
  for (int i = 1; i <= 4; ++i) s.tasks.push_back(task(i));
  // Two annotators on 4 tasks: u1 = (0, 0, 1, 1), u2 = (0, 1, 1, 1) as outcomes First/Second.
  // p_o = 3/4; p_e = (2/4)(1/4) + (2/4)(3/4) = 1/2 -> kappa = 0.5.
  int id = 1;
  int u1[] = {0, 0, 1, 1}, u2[] = {0, 1, 1, 1};
  for (int t = 0; t < 4; ++t) {
    s.labels.push_back(pair(id++, t + 1, 1, u1[t]));
    s.labels.push_back(pair(id++, t + 1, 2, u2[t]));
  }
  s.tasks[0].n_labels = 2;
  s.tasks[0].overlap = 2;
  json d = dashboard_stats(s);
  EXPECT_EQ(d["counts"]["labels"], 8);
  EXPECT_EQ(d["counts"]["annotators"], 2);
  EXPECT_EQ(d["counts"]["tasks"]["open"], 3);
  ASSERT_EQ(d["agreement"]["cohen_kappa_pairs"].size(), 1u);
  EXPECT_NEAR(d["agreement"]["cohen_kappa_pairs"][0]["kappa"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(d["agreement"]["cohen_kappa_mean"].get<double>(), 0.5, 1e-12);
  EXPECT_EQ(d["choices"]["strength"]["better"], 8);
  EXPECT_EQ(d["choices"]["strength"]["tie"], 0);
  // One label per hour each (created_at = 3600 * id): u1 has 4 distinct hours.
  EXPECT_EQ(d["labels_per_hour"]["u1"].size(), 4u);
  EXPECT_TRUE(d["agreement"]["kendall_w_mean"].is_null());
}
