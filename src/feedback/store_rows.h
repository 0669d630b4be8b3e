// Decoding rows of the tasks and labels tables into records (shared by store.cpp and queue.cpp).
#pragma once
#include "feedback/db.h"
#include "rlhf/feedback/types.h"

namespace rlhf::feedback {

// Column lists that task_from_row / label_from_row expect, in order.
inline constexpr const char* kTaskColumns =
    "id, external_id, prompt, responses, priority, kind, gold_levels, duplicate_of, owner_id, overlap, n_labels, meta,"
    " created_at";
inline constexpr const char* kLabelColumns =
    "l.id, l.task_id, l.user_id, u.name, l.kind, l.chosen, l.rejected, l.strength, l.ranking, l.display_order,"
    " l.chosen_left, l.flags, l.rationale, l.seconds, l.created_at";

inline Task task_from_row(const sql::Stmt& s) {
  Task t;
  t.id = s.i64(0);
  t.external_id = s.text(1);
  t.prompt = s.text(2);
  t.responses = json::parse(s.text(3)).get<std::vector<std::string>>();
  t.priority = s.f64(4);
  t.kind = s.text(5);
  if (!s.is_null(6)) t.gold_levels = json::parse(s.text(6)).get<std::vector<int>>();
  t.duplicate_of = s.is_null(7) ? 0 : s.i64(7);
  t.owner_id = s.is_null(8) ? 0 : s.i64(8);
  t.overlap = int(s.i64(9));
  t.n_labels = int(s.i64(10));
  t.meta = json::parse(s.text(11));
  t.created_at = s.f64(12);
  return t;
}

inline Label label_from_row(const sql::Stmt& s) {
  Label l;
  l.id = s.i64(0);
  l.task_id = s.i64(1);
  l.user_id = s.i64(2);
  l.user_name = s.text(3);
  l.kind = s.text(4);
  if (l.kind == "pair") {
    l.chosen = int(s.i64(5));
    l.rejected = int(s.i64(6));
    l.strength = parse_strength(s.text(7)).value_or(Strength::Better);
  } else {
    l.ranking = json::parse(s.text(8)).get<std::vector<std::vector<int>>>();
  }
  l.display_order = json::parse(s.text(9)).get<std::vector<int>>();
  if (!s.is_null(10)) l.chosen_left = s.i64(10) != 0;
  l.flags = json::parse(s.text(11)).get<std::vector<std::string>>();
  l.rationale = s.text(12);
  if (!s.is_null(13)) l.seconds = s.f64(13);
  l.created_at = s.f64(14);
  return l;
}

}  // namespace rlhf::feedback
