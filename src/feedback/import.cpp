// Task import from JSONL (see import.h).
#include "rlhf/feedback/import.h"

#include <algorithm>
#include <map>
#include <set>

namespace rlhf::feedback {
namespace {

std::vector<int> levels_from_scores(const std::vector<double>& s) {
  // Level = number of distinct scores above: equal scores tie.
  std::vector<int> lv;
  std::set<double, std::greater<double>> distinct(s.begin(), s.end());
  for (double v : s) lv.push_back(int(std::distance(distinct.begin(), distinct.find(v))));
  return lv;
}

}  // namespace

TaskInput parse_task_record(const io::json& r, const io::Where& where, const ImportOptions& opts) {
  if (!r.is_object()) throw Error(where.str() + ": a task must be a JSON object");
  TaskInput t;
  t.prompt = io::get_string(r, "prompt", where);
  if (r.contains("responses")) {
    const auto& rs = r["responses"];
    if (!rs.is_array()) throw Error(where.str() + ": field \"responses\" must be an array of strings");
    for (const auto& x : rs) {
      if (!x.is_string()) throw Error(where.str() + ": field \"responses\" must be an array of strings");
      t.responses.push_back(x.get<std::string>());
    }
  } else if (r.contains("chosen") && r.contains("rejected")) {
    t.responses = {io::get_string(r, "chosen", where), io::get_string(r, "rejected", where)};
  } else {
    throw Error(where.str() + ": missing field \"responses\" (or \"chosen\" and \"rejected\")");
  }
  if (t.responses.size() < 2)
    throw Error(where.str() + ": a task needs at least 2 responses (got " + std::to_string(t.responses.size()) + ")");
  if (t.responses.size() > 16) throw Error(where.str() + ": at most 16 responses per task");
  if (r.contains(opts.priority_field) && !r[opts.priority_field].is_null())
    t.priority = io::get_number(r, opts.priority_field.c_str(), where);
  if (r.contains("id") && !r["id"].is_null()) t.external_id = r["id"].is_string() ? r["id"].get<std::string>() : r["id"].dump();
  t.overlap = opts.overlap;
  if (r.contains("overlap")) t.overlap = int(io::get_int(r, "overlap", where));
  if (t.overlap < 1) throw Error(where.str() + ": field \"overlap\" must be >= 1");
  int k = int(t.responses.size());
  if (r.contains("gold_answer")) {
    const auto& g = r["gold_answer"];
    if (g.contains("ranking")) {
      std::vector<std::vector<int>> groups;
      for (const auto& item : g["ranking"]) {
        std::vector<int> grp;
        if (item.is_array())
          for (const auto& x : item) grp.push_back(x.get<int>());
        else
          grp.push_back(item.get<int>());
        groups.push_back(grp);
      }
      t.gold_levels = levels_from_groups(groups, k);
    } else {
      int c = int(io::get_int(g, "chosen", where)), rj = int(io::get_int(g, "rejected", where));
      if (c < 0 || c >= k || rj < 0 || rj >= k || c == rj)
        throw Error(where.str() + ": gold_answer chosen/rejected must be two different indices in 0.." +
                    std::to_string(k - 1));
      // Unmentioned responses share the rejected one's level: the answer only orders these two.
      t.gold_levels.assign(size_t(k), 1);
      t.gold_levels[size_t(c)] = 0;
    }
    if (std::count(t.gold_levels.begin(), t.gold_levels.end(), -1))
      throw Error(where.str() + ": gold_answer ranking must list every response");
  } else if (opts.gold_from_scores && r.contains("gold") && r["gold"].is_array()) {
    std::vector<double> s;
    for (const auto& x : r["gold"]) {
      if (!x.is_number()) throw Error(where.str() + ": field \"gold\" must be an array of numbers");
      s.push_back(x.get<double>());
    }
    if (int(s.size()) != k) throw Error(where.str() + ": field \"gold\" must have one score per response");
    t.gold_levels = levels_from_scores(s);
  }
  // Everything else is kept for export.
  for (const auto& [key, v] : r.items())
    if (key != "prompt" && key != "responses" && key != "chosen" && key != "rejected") t.meta[key] = v;
  return t;
}

std::vector<TaskInput> read_tasks(const std::string& path, const ImportOptions& opts, size_t* skipped) {
  std::vector<TaskInput> out;
  // Single-response records, grouped by prompt: (first record, where, responses).
  struct Group {
    io::json first;
    io::Where where;
    std::vector<std::string> responses;
  };
  std::vector<Group> groups;
  std::map<std::string, size_t> group_of;
  std::vector<std::pair<bool, size_t>> order;  // (grouped?, index) in file order
  io::for_each_jsonl(path, [&](const io::json& r, const io::Where& w) {
    bool single = r.is_object() && r.contains("response") && !r.contains("responses") && !r.contains("chosen");
    if (!single) {
      order.push_back({false, out.size()});
      out.push_back(parse_task_record(r, w, opts));
      return;
    }
    std::string prompt = io::get_string(r, "prompt", w);
    std::string response = io::get_string(r, "response", w);
    auto it = group_of.find(prompt);
    if (it == group_of.end()) {
      it = group_of.emplace(prompt, groups.size()).first;
      groups.push_back({r, w, {}});
      order.push_back({true, it->second});
    }
    auto& g = groups[it->second].responses;
    if (std::find(g.begin(), g.end(), response) == g.end()) g.push_back(response);
  });
  if (groups.empty()) return out;
  std::vector<TaskInput> merged;
  size_t dropped = 0;
  for (const auto& [grouped, i] : order) {
    if (!grouped) {
      merged.push_back(std::move(out[i]));
      continue;
    }
    const Group& g = groups[i];
    if (g.responses.size() < 2) {
      ++dropped;
      continue;
    }
    io::json r = g.first;
    r.erase("response");
    r.erase("finished");
    r["responses"] = g.responses;
    merged.push_back(parse_task_record(r, g.where, opts));
  }
  if (skipped) *skipped = dropped;
  return merged;
}

}  // namespace rlhf::feedback
