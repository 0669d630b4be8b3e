// Per-annotator quality and inter-annotator agreement (see stats.h).
#include "rlhf/feedback/stats.h"

#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "rlhf/feedback/agreement.h"

namespace rlhf::feedback {
namespace {

using ItemKey = std::tuple<int64_t, int, int>;  // (task, a, b)

std::optional<double> share(int64_t hit, int64_t n) {
  return n ? std::optional<double>(double(hit) / double(n)) : std::nullopt;
}

json opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Items of every label on non-duplicate tasks, per item key: (user, outcome).
std::map<ItemKey, std::vector<std::pair<int64_t, Outcome>>> items_by_key(const Snapshot& s, bool pairs_only) {
  std::map<ItemKey, std::vector<std::pair<int64_t, Outcome>>> out;
  for (const auto& l : s.labels) {
    const Task* t = s.task(l.task_id);
    if (!t || t->kind == "duplicate" || (pairs_only && l.kind != "pair")) continue;
    for (const auto& it : pair_items(l)) out[{it.task_id, it.a, it.b}].push_back({l.user_id, it.outcome});
  }
  return out;
}

}  // namespace

std::vector<AnnotatorStats> annotator_stats(const Snapshot& s) {
  std::map<int64_t, AnnotatorStats> by_user;
  std::map<int64_t, int64_t> agree_hit, gold_hit, dup_hit, left_hit;
  std::map<int64_t, std::vector<double>> secs;
  for (const auto& u : s.users) by_user[u.id] = {u.id, u.name};
  // Labels by (task, user) for the duplicate comparison.
  std::map<std::pair<int64_t, int64_t>, const Label*> label_of;
  for (const auto& l : s.labels) label_of[{l.task_id, l.user_id}] = &l;

  for (const auto& l : s.labels) {
    auto& a = by_user[l.user_id];
    a.user_id = l.user_id;
    a.name = l.user_name;
    ++a.labels;
    if (l.seconds) secs[l.user_id].push_back(*l.seconds);
    if (l.chosen_left) {
      ++a.position_n;
      left_hit[l.user_id] += *l.chosen_left;
    }
    const Task* t = s.task(l.task_id);
    if (!t) continue;
    if (t->kind == "gold" && !t->gold_levels.empty()) {
      for (const auto& it : pair_items(l)) {
        ++a.gold_n;
        gold_hit[l.user_id] += it.outcome == gold_outcome(t->gold_levels, it.a, it.b);
      }
    }
    if (t->kind == "duplicate") {
      auto orig = label_of.find({t->duplicate_of, l.user_id});
      if (orig == label_of.end()) continue;
      std::map<std::pair<int, int>, Outcome> first;
      for (const auto& it : pair_items(*orig->second)) first[{it.a, it.b}] = it.outcome;
      for (const auto& it : pair_items(l)) {
        auto f = first.find({it.a, it.b});
        if (f == first.end()) continue;
        ++a.duplicate_n;
        dup_hit[l.user_id] += f->second == it.outcome;
      }
    }
  }
  // Agreement with the plurality of the other annotators on the same item.
  for (const auto& [key, votes] : items_by_key(s, false)) {
    if (votes.size() < 2) continue;
    int count[kOutcomes] = {0, 0, 0, 0};
    for (const auto& v : votes) ++count[int(v.second)];
    for (const auto& [user, outcome] : votes) {
      int c[kOutcomes];
      for (int i = 0; i < kOutcomes; ++i) c[i] = count[i];
      --c[int(outcome)];
      int best = 0;
      for (int i = 1; i < kOutcomes; ++i)
        if (c[i] > c[best]) best = i;
      int n_best = 0;
      for (int i = 0; i < kOutcomes; ++i) n_best += c[i] == c[best];
      if (c[best] == 0 || n_best > 1) continue;  // no unique plurality among the others
      ++by_user[user].agreement_n;
      agree_hit[user] += best == int(outcome);
    }
  }
  std::vector<AnnotatorStats> out;
  for (auto& [id, a] : by_user) {
    if (!a.labels) continue;
    a.agreement = share(agree_hit[id], a.agreement_n);
    a.gold_accuracy = share(gold_hit[id], a.gold_n);
    a.self_consistency = share(dup_hit[id], a.duplicate_n);
    a.left_share = share(left_hit[id], a.position_n);
    if (!secs[id].empty()) a.median_seconds = median(secs[id]);
    out.push_back(a);
  }
  return out;
}

json annotator_stats_json(const AnnotatorStats& a) {
  return {{"annotator", a.name},
          {"labels", a.labels},
          {"agreement", opt(a.agreement)},
          {"agreement_n", a.agreement_n},
          {"gold_accuracy", opt(a.gold_accuracy)},
          {"gold_n", a.gold_n},
          {"self_consistency", opt(a.self_consistency)},
          {"duplicate_n", a.duplicate_n},
          {"left_share", opt(a.left_share)},
          {"position_n", a.position_n},
          {"median_seconds", opt(a.median_seconds)}};
}

json dashboard_stats(const Snapshot& s) {
  json j;
  // Counts.
  int64_t normal = 0, gold = 0, dup = 0, open = 0;
  for (const auto& t : s.tasks) {
    normal += t.kind == "normal";
    gold += t.kind == "gold";
    dup += t.kind == "duplicate";
    open += t.kind == "normal" && t.n_labels < t.overlap;
  }
  int64_t annotators = 0;
  for (const auto& u : s.users) annotators += u.role == Role::Annotator;
  int64_t thumbs_up = 0, thumbs_down = 0, rated = 0;
  double rating_sum = 0;
  for (const auto& r : s.ratings) {
    if (r.input.thumbs) (*r.input.thumbs > 0 ? thumbs_up : thumbs_down)++;
    if (r.input.rating) ++rated, rating_sum += *r.input.rating;
  }
  j["counts"] = {{"tasks", {{"normal", normal}, {"gold", gold}, {"duplicate", dup}, {"open", open}}},
                 {"labels", int64_t(s.labels.size())},
                 {"annotators", annotators},
                 {"ratings",
                  {{"total", int64_t(s.ratings.size())},
                   {"thumbs_up", thumbs_up},
                   {"thumbs_down", thumbs_down},
                   {"mean_rating", rated ? json(rating_sum / double(rated)) : json(nullptr)}}}};
  // Per annotator.
  j["annotators"] = json::array();
  for (const auto& a : annotator_stats(s)) j["annotators"].push_back(annotator_stats_json(a));
  // Labels per annotator per hour (UTC hour start, unix seconds).
  std::map<std::string, std::map<int64_t, int64_t>> per_hour;
  for (const auto& l : s.labels) ++per_hour[l.user_name][int64_t(std::floor(l.created_at / 3600)) * 3600];
  j["labels_per_hour"] = json::object();
  for (const auto& [name, hours] : per_hour) {
    json row = json::array();
    for (const auto& [h, c] : hours) row.push_back({{"hour", h}, {"labels", c}});
    j["labels_per_hour"][name] = row;
  }
  // Choice distribution.
  json strengths = json::object(), flags = json::object();
  for (Strength v : {Strength::MuchBetter, Strength::Better, Strength::SlightlyBetter, Strength::Tie, Strength::BothBad})
    strengths[strength_name(v)] = 0;
  for (const auto& f : kFlagNames) flags[f] = 0;
  int64_t left = 0, right = 0, rankings = 0;
  for (const auto& l : s.labels) {
    if (l.kind == "pair")
      strengths[strength_name(l.strength)] = strengths[strength_name(l.strength)].get<int64_t>() + 1;
    else
      ++rankings;
    if (l.chosen_left) (*l.chosen_left ? left : right)++;
    for (const auto& f : l.flags)
      if (flags.contains(f)) flags[f] = flags[f].get<int64_t>() + 1;
  }
  j["choices"] = {{"strength", strengths}, {"rankings", rankings}, {"flags", flags},
                  {"position", {{"left", left}, {"right", right}}}};
  // Cohen's kappa for every pair of annotators over the pair items both answered (pair labels).
  std::map<std::pair<int64_t, int64_t>, std::pair<std::vector<int>, std::vector<int>>> shared;
  for (const auto& [key, votes] : items_by_key(s, true))
    for (size_t x = 0; x < votes.size(); ++x)
      for (size_t y = x + 1; y < votes.size(); ++y) {
        auto [u, ou] = votes[x];
        auto [v, ov] = votes[y];
        if (u > v) std::swap(u, v), std::swap(ou, ov);
        auto& sh = shared[{u, v}];
        sh.first.push_back(int(ou));
        sh.second.push_back(int(ov));
      }
  std::map<int64_t, std::string> names;
  for (const auto& u : s.users) names[u.id] = u.name;
  json kappas = json::array();
  double ksum = 0, kw = 0;
  for (const auto& [uv, xy] : shared) {
    auto k = cohen_kappa(xy.first, xy.second, kOutcomes);
    kappas.push_back({{"a", names[uv.first]}, {"b", names[uv.second]}, {"items", xy.first.size()}, {"kappa", opt(k)}});
    if (k) ksum += *k * double(xy.first.size()), kw += double(xy.first.size());
  }
  j["agreement"]["cohen_kappa_pairs"] = kappas;
  j["agreement"]["cohen_kappa_mean"] = kw > 0 ? json(ksum / kw) : json(nullptr);  // weighted by shared items
  // Kendall's W per ranking task with at least two rankings.
  std::map<int64_t, std::vector<std::vector<int>>> rank_levels;
  for (const auto& l : s.labels) {
    const Task* t = s.task(l.task_id);
    if (l.kind != "ranking" || !t || t->kind == "duplicate") continue;
    rank_levels[l.task_id].push_back(levels_from_groups(l.ranking, int(t->responses.size())));
  }
  double wsum = 0;
  int64_t wn = 0;
  for (const auto& [task, rows] : rank_levels)
    if (auto w = kendall_w(rows)) wsum += *w, ++wn;
  j["agreement"]["kendall_w_mean"] = wn ? json(wsum / double(wn)) : json(nullptr);
  j["agreement"]["kendall_w_tasks"] = wn;
  return j;
}

}  // namespace rlhf::feedback
