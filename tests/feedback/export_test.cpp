// Export records: one per label (with strength names, margins, tie/both_bad), majority and
// Bradley-Terry aggregates, dropping low-agreement annotators, and ratings.
#include <gtest/gtest.h>

#include <sstream>

#include "rlhf/feedback/export.h"

using namespace rlhf::feedback;

namespace {

Task task(int64_t id, const std::string& kind = "normal") {
  Task t;
  t.id = id;
  t.kind = kind;
  t.prompt = "\n\nHuman: q" + std::to_string(id) + "\n\nAssistant:";
  t.responses = {" zero", " one", " two"};
  return t;
}

Label pair(int64_t id, int64_t task, int64_t user, int chosen, int rejected, Strength s = Strength::Better) {
  Label l;
  l.id = id;
  l.task_id = task;
  l.user_id = user;
  l.user_name = "u" + std::to_string(user);
  l.kind = "pair";
  l.chosen = chosen;
  l.rejected = rejected;
  l.strength = s;
  l.created_at = 1000.0 + double(id);
  return l;
}

std::vector<json> run(const Snapshot& s, const ExportOptions& o, ExportReport* rep = nullptr) {
  std::ostringstream out;
  auto r = export_jsonl(s, o, out);
  if (rep) *rep = r;
  std::vector<json> lines;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

}  // namespace

TEST(FeedbackExport, OneRecordPerLabelInTheRewardTrainersFormat) {
  Snapshot s;
  s.users = {{1, "u1", Role::Annotator}};
  s.tasks = {task(1), task(2), task(3, "duplicate")};
  s.tasks[2].duplicate_of = 1;
  Label rk;
  rk.id = 4;
  rk.task_id = 2;
  rk.user_id = 1;
  rk.user_name = "u1";
  rk.kind = "ranking";
  rk.ranking = {{2}, {0, 1}};
  s.labels = {pair(1, 1, 1, 2, 0, Strength::MuchBetter), pair(2, 1, 1, 1, 0, Strength::BothBad), rk,
              pair(3, 3, 1, 0, 2, Strength::Tie)};
  auto lines = run(s, {});
  ASSERT_EQ(lines.size(), 3u);  // the duplicate's label is left out by default
  EXPECT_EQ(lines[0]["prompt"], s.tasks[0].prompt);
  EXPECT_EQ(lines[0]["chosen"], " two");
  EXPECT_EQ(lines[0]["rejected"], " zero");
  EXPECT_EQ(lines[0]["strength"], "much_better");
  EXPECT_DOUBLE_EQ(lines[0]["margin"].get<double>(), 1.0);
  EXPECT_EQ(lines[0]["annotator"], "u1");
  EXPECT_DOUBLE_EQ(lines[0]["timestamp"].get<double>(), 1001.0);
  EXPECT_FALSE(lines[0].contains("tie"));
  EXPECT_EQ(lines[1]["strength"], "both_bad");
  EXPECT_EQ(lines[1]["tie"], true);
  EXPECT_EQ(lines[1]["both_bad"], true);
  EXPECT_DOUBLE_EQ(lines[1]["margin"].get<double>(), 0.0);
  EXPECT_EQ(lines[2]["ranking"], json::parse("[2, [0, 1]]"));
  EXPECT_EQ(lines[2]["responses"].size(), 3u);
  ExportOptions o;
  o.include_duplicates = true;
  o.drop_both_bad = true;
  auto more = run(s, o);
  ASSERT_EQ(more.size(), 3u);
  EXPECT_EQ(more[2]["strength"], "tie");
  EXPECT_EQ(more[2]["tie"], true);
  EXPECT_FALSE(more[2].contains("both_bad"));
  EXPECT_EQ(more[2]["duplicate_of"], 1);
}

TEST(FeedbackExport, MajorityAndBradleyTerryAggregates) {
  Snapshot s;
  s.users = {{1, "u1", Role::Annotator}, {2, "u2", Role::Annotator}, {3, "u3", Role::Annotator}};
  s.tasks = {task(1)};
  // Pair (0, 1): u1, u2 prefer 1, u3 prefers 0 -> majority 1 over 0, agreement 2/3.
  // Pair (0, 2): u1 prefers 2, u2 prefers 0 -> contested under majority.
  s.labels = {pair(1, 1, 1, 1, 0, Strength::MuchBetter), pair(2, 1, 2, 1, 0, Strength::SlightlyBetter),
              pair(3, 1, 3, 0, 1), pair(4, 1, 1, 2, 0), pair(5, 1, 2, 0, 2)};
  ExportOptions o;
  o.aggregate = "majority";
  ExportReport rep;
  auto lines = run(s, o, &rep);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(rep.contested, 1);
  EXPECT_EQ(lines[0]["chosen"], " one");
  EXPECT_EQ(lines[0]["rejected"], " zero");
  EXPECT_NEAR(lines[0]["agreement"].get<double>(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(lines[0]["margin"].get<double>(), (1.0 + 1.0 / 3.0) / 2.0, 1e-12);  // mean of the winners' margins
  EXPECT_EQ(lines[0]["annotators"].size(), 3u);
  o.aggregate = "bradley_terry";
  auto bt = run(s, o);
  ASSERT_EQ(bt.size(), 2u);
  // 1 won 2 of 3 against 0; 0 and 2 split: the fit ranks 1 above 0.
  EXPECT_EQ(bt[0]["chosen"], " one");
  EXPECT_GT(bt[0]["bt_probability"].get<double>(), 0.5);
  EXPECT_LT(bt[0]["bt_probability"].get<double>(), 1.0);
}

TEST(FeedbackExport, DropsAnnotatorsBelowTheAgreementThreshold) {
  Snapshot s;
  s.users = {{1, "good1", Role::Annotator}, {2, "good2", Role::Annotator}, {3, "contrarian", Role::Annotator}};
  int id = 1;
  for (int t = 1; t <= 6; ++t) {
    s.tasks.push_back(task(t));
    s.labels.push_back(pair(id++, t, 1, 0, 1));
    s.labels.push_back(pair(id++, t, 2, 0, 1));
    s.labels.push_back(pair(id++, t, 3, 1, 0));
  }
  for (auto& l : s.labels) l.user_name = s.users[size_t(l.user_id - 1)].name;
  ExportOptions o;
  o.min_agreement = 0.5;
  o.min_agreement_items = 5;
  ExportReport rep;
  auto lines = run(s, o, &rep);
  ASSERT_EQ(rep.dropped_annotators, std::vector<std::string>{"contrarian"});
  EXPECT_EQ(lines.size(), 12u);
  for (const auto& l : lines) EXPECT_NE(l["annotator"], "contrarian");
  o.min_agreement_items = 7;  // measured on 6 items only: kept
  EXPECT_EQ(run(s, o).size(), 18u);
}

TEST(FeedbackExport, Ratings) {
  Snapshot s;
  Rating r;
  r.id = 1;
  r.user_name = "u";
  r.input = {"p", "resp", 1, 4, "m", ""};
  s.ratings = {r};
  ExportOptions o;
  o.what = "ratings";
  auto lines = run(s, o);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["thumbs"], "up");
  EXPECT_EQ(lines[0]["rating"], 4);
  EXPECT_EQ(lines[0]["response"], "resp");
  o.what = "bogus";
  EXPECT_THROW(run(s, o), rlhf::Error);
}
