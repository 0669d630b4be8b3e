// Names, margins and JSON forms of the feedback records (see types.h).
#include "rlhf/feedback/types.h"

#include <algorithm>

namespace rlhf::feedback {

const std::vector<std::string> kFlagNames = {"unsafe", "factually_wrong", "off_topic"};

const char* role_name(Role r) { return r == Role::Admin ? "admin" : "annotator"; }

Role parse_role(const std::string& s) {
  if (s == "annotator") return Role::Annotator;
  if (s == "admin") return Role::Admin;
  throw Error("role must be annotator or admin (got \"" + s + "\")");
}

const char* strength_name(Strength s) {
  switch (s) {
    case Strength::MuchBetter: return "much_better";
    case Strength::Better: return "better";
    case Strength::SlightlyBetter: return "slightly_better";
    case Strength::Tie: return "tie";
    case Strength::BothBad: return "both_bad";
  }
  return "?";
}

std::optional<Strength> parse_strength(const std::string& s) {
  for (Strength v : {Strength::MuchBetter, Strength::Better, Strength::SlightlyBetter, Strength::Tie, Strength::BothBad})
    if (s == strength_name(v)) return v;
  return std::nullopt;
}

double strength_margin(Strength s) {
  switch (s) {
    case Strength::MuchBetter: return 1.0;
    case Strength::Better: return 2.0 / 3.0;
    case Strength::SlightlyBetter: return 1.0 / 3.0;
    default: return 0.0;
  }
}

bool is_strict(Strength s) { return s != Strength::Tie && s != Strength::BothBad; }

const Task* Snapshot::task(int64_t id) const {
  auto it = std::lower_bound(tasks.begin(), tasks.end(), id, [](const Task& t, int64_t v) { return t.id < v; });
  return it != tasks.end() && it->id == id ? &*it : nullptr;
}

json ranking_to_json(const std::vector<std::vector<int>>& groups) {
  json r = json::array();
  for (const auto& g : groups) {
    if (g.size() == 1)
      r.push_back(g[0]);
    else
      r.push_back(g);
  }
  return r;
}

std::vector<int> levels_from_groups(const std::vector<std::vector<int>>& groups, int k) {
  std::vector<int> lv(static_cast<size_t>(k), -1);
  for (size_t g = 0; g < groups.size(); ++g)
    for (int i : groups[g])
      if (i >= 0 && i < k) lv[size_t(i)] = int(g);
  return lv;
}

json label_to_json(const Label& l) {
  json j = {{"label_id", l.id},     {"task_id", l.task_id},   {"annotator", l.user_name},
            {"kind", l.kind},       {"flags", l.flags},       {"rationale", l.rationale},
            {"created_at", l.created_at}, {"display_order", l.display_order}};
  if (l.kind == "pair") {
    j["chosen"] = l.chosen;
    j["rejected"] = l.rejected;
    j["strength"] = strength_name(l.strength);
    if (l.chosen_left) j["chosen_left"] = *l.chosen_left;
  } else {
    j["ranking"] = ranking_to_json(l.ranking);
  }
  j["seconds"] = l.seconds ? json(*l.seconds) : json(nullptr);
  return j;
}

json task_to_json(const Assignment& a) {
  const Task& t = a.task;
  json j = {{"id", t.id},
            {"prompt", t.prompt},
            {"responses", t.responses},
            {"display_order", a.display_order},
            {"k", int(t.responses.size())},
            {"assigned_at", a.assigned_at},
            {"expires_at", a.expires_at}};
  if (!t.external_id.empty()) j["external_id"] = t.external_id;
  // Gold and duplicate tasks look like any other to the annotator: no kind is sent.
  return j;
}

}  // namespace rlhf::feedback
