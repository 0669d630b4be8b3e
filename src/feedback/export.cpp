// Export of labels and ratings as JSONL (see export.h and docs/feedback.md for the records).
#include "rlhf/feedback/export.h"

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "rlhf/feedback/agreement.h"
#include "rlhf/feedback/stats.h"

namespace rlhf::feedback {

void ExportOptions::validate() const {
  if (what != "labels" && what != "ratings") throw Error("--what must be labels or ratings (got " + what + ")");
  if (aggregate != "none" && aggregate != "majority" && aggregate != "bradley_terry")
    throw Error("--aggregate must be none, majority or bradley_terry (got " + aggregate + ")");
  if (min_agreement_items < 0) throw Error("--min-agreement-items must be >= 0");
}

namespace {

void put(std::ostream& out, const json& j) { out << j.dump(-1, ' ', false, json::error_handler_t::replace) << "\n"; }

json pair_record(const Task& t, int chosen, int rejected) {
  json r = {{"prompt", t.prompt}, {"chosen", t.responses[size_t(chosen)]}, {"rejected", t.responses[size_t(rejected)]}};
  r["task_id"] = t.id;
  r["chosen_index"] = chosen;
  r["rejected_index"] = rejected;
  if (!t.external_id.empty()) r["id"] = t.external_id;
  if (t.kind == "gold") r["gold_task"] = true;
  return r;
}

json label_record(const Task& t, const Label& l) {
  json r;
  if (l.kind == "pair") {
    r = pair_record(t, l.chosen, l.rejected);
    r["strength"] = strength_name(l.strength);
    r["margin"] = strength_margin(l.strength);
    if (l.strength == Strength::Tie) r["tie"] = true;
    if (l.strength == Strength::BothBad) r["tie"] = true, r["both_bad"] = true;
    if (!l.display_order.empty()) r["display_order"] = l.display_order;
    if (l.chosen_left) r["chosen_left"] = *l.chosen_left;
  } else {
    r = {{"prompt", t.prompt}, {"responses", t.responses}, {"ranking", ranking_to_json(l.ranking)}, {"task_id", t.id}};
    if (!t.external_id.empty()) r["id"] = t.external_id;
    if (t.kind == "gold") r["gold_task"] = true;
    if (!l.display_order.empty()) r["display_order"] = l.display_order;
  }
  r["annotator"] = l.user_name;
  r["timestamp"] = l.created_at;
  r["label_id"] = l.id;
  if (!l.flags.empty()) r["flags"] = l.flags;
  if (!l.rationale.empty()) r["rationale"] = l.rationale;
  if (t.kind == "duplicate") r["duplicate_of"] = t.duplicate_of;
  return r;
}

using ItemKey = std::tuple<int64_t, int, int>;
struct Vote {
  Outcome outcome;
  double weight, margin, time;
  std::string annotator;
};

}  // namespace

ExportReport export_jsonl(const Snapshot& s, const ExportOptions& opts, std::ostream& out) {
  opts.validate();
  ExportReport rep;
  if (opts.what == "ratings") {
    for (const auto& r : s.ratings) {
      json j = {{"kind", "rating"}, {"prompt", r.input.prompt}, {"response", r.input.response},
                {"annotator", r.user_name}, {"timestamp", r.created_at}, {"rating_id", r.id}};
      if (r.input.thumbs) j["thumbs"] = *r.input.thumbs > 0 ? "up" : "down";
      if (r.input.rating) j["rating"] = *r.input.rating;
      if (!r.input.model.empty()) j["model"] = r.input.model;
      if (!r.input.comment.empty()) j["comment"] = r.input.comment;
      put(out, j);
      ++rep.records;
    }
    return rep;
  }
  // Which annotators to keep, and their weights.
  std::set<int64_t> dropped;
  std::map<int64_t, double> weight;
  for (const auto& a : annotator_stats(s)) {
    weight[a.user_id] = opts.weight_by_agreement && a.agreement ? *a.agreement : 1.0;
    bool low_agree = opts.min_agreement >= 0 && a.agreement && a.agreement_n >= opts.min_agreement_items &&
                     *a.agreement < opts.min_agreement;
    bool low_gold = opts.min_gold_accuracy >= 0 && a.gold_accuracy && a.gold_n >= opts.min_agreement_items &&
                    *a.gold_accuracy < opts.min_gold_accuracy;
    if (low_agree || low_gold) {
      dropped.insert(a.user_id);
      rep.dropped_annotators.push_back(a.name);
    }
  }
  auto keep = [&](const Label& l, const Task* t) {
    if (!t || dropped.count(l.user_id)) return false;
    if (t->kind == "gold" && !opts.include_gold) return false;
    if (t->kind == "duplicate" && !opts.include_duplicates) return false;
    if (opts.drop_both_bad && l.kind == "pair" && l.strength == Strength::BothBad) return false;
    return true;
  };
  if (opts.aggregate == "none") {
    for (const auto& l : s.labels) {
      const Task* t = s.task(l.task_id);
      if (!keep(l, t)) continue;
      put(out, label_record(*t, l));
      ++rep.records, ++rep.labels_used;
    }
    return rep;
  }
  // Aggregates: every label becomes pair items; duplicates count as the task they repeat.
  std::map<ItemKey, std::vector<Vote>> votes;
  for (const auto& l : s.labels) {
    const Task* t = s.task(l.task_id);
    if (!keep(l, t)) continue;
    int64_t task_id = t->kind == "duplicate" ? t->duplicate_of : t->id;
    ++rep.labels_used;
    for (auto it : pair_items(l)) {
      if (opts.drop_both_bad && it.outcome == Outcome::BothBad) continue;
      votes[{task_id, it.a, it.b}].push_back({it.outcome, weight[l.user_id], it.margin, l.created_at, l.user_name});
    }
  }
  std::map<int64_t, std::vector<ItemKey>> keys_by_task;
  for (const auto& [key, v] : votes) keys_by_task[std::get<0>(key)].push_back(key);
  for (const auto& [task_id, keys] : keys_by_task) {
    const Task* t = s.task(task_id);
    std::vector<double> bt;
    if (opts.aggregate == "bradley_terry") {
      std::vector<BtComparison> cmp;
      for (const auto& key : keys)
        for (const auto& v : votes[key]) {
          int a = std::get<1>(key), b = std::get<2>(key);
          if (v.outcome == Outcome::First) cmp.push_back({a, b, v.weight});
          if (v.outcome == Outcome::Second) cmp.push_back({b, a, v.weight});
          if (v.outcome == Outcome::Tie) cmp.push_back({a, b, v.weight / 2}), cmp.push_back({b, a, v.weight / 2});
        }
      bt = bradley_terry(int(t->responses.size()), cmp);
    }
    for (const auto& key : keys) {
      const auto& vs = votes[key];
      int a = std::get<1>(key), b = std::get<2>(key);
      double w[kOutcomes] = {0, 0, 0, 0}, total = 0, margin_sum = 0, last = 0;
      json names = json::array();
      for (const auto& v : vs) {
        w[int(v.outcome)] += v.weight;
        total += v.weight;
        last = std::max(last, v.time);
        names.push_back(v.annotator);
      }
      json r;
      if (opts.aggregate == "majority") {
        int best = 0;
        for (int i = 1; i < kOutcomes; ++i)
          if (w[i] > w[best]) best = i;
        int n_best = 0;
        for (int i = 0; i < kOutcomes; ++i) n_best += std::fabs(w[i] - w[best]) < 1e-12;
        if (n_best > 1 || w[best] <= 0) {
          ++rep.contested;
          continue;
        }
        Outcome o = Outcome(best);
        int c = o == Outcome::Second ? b : a, rj = o == Outcome::Second ? a : b;
        for (const auto& v : vs)
          if (v.outcome == o) margin_sum += v.margin * v.weight;
        r = pair_record(*t, c, rj);
        r["margin"] = margin_sum / w[best];
        if (o == Outcome::Tie) r["tie"] = true;
        if (o == Outcome::BothBad) r["tie"] = true, r["both_bad"] = true;
        r["agreement"] = w[best] / total;
      } else {
        double d = bt[size_t(a)] - bt[size_t(b)];
        bool first = d >= 0;
        r = pair_record(*t, first ? a : b, first ? b : a);
        double p = 1 / (1 + std::exp(-std::fabs(d)));
        r["bt_probability"] = p;
        r["margin"] = 2 * p - 1;  // 0 = no preference, 1 = certain
        if (std::fabs(d) < 1e-9) r["tie"] = true;
      }
      r["votes"] = {{"first", w[0]}, {"second", w[1]}, {"tie", w[2]}, {"both_bad", w[3]}};
      r["annotators"] = names;
      r["annotator"] = opts.aggregate;  // an aggregate of several annotators
      r["timestamp"] = last;
      put(out, r);
      ++rep.records;
    }
  }
  return rep;
}

}  // namespace rlhf::feedback
