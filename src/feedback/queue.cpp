// The task queue: which task an annotator gets next, and in which order its responses are shown.
// Order of preference: the annotator's unanswered hand-out; a swapped duplicate left unanswered;
// with probability gold_rate a gold task, with probability duplicate_rate a new swapped duplicate
// of one of their earlier labels; else the open normal task of highest priority (oldest first)
// that they have never labelled and that fewer than `overlap` annotators hold or have answered.
#include <algorithm>
#include <numeric>

#include "feedback/db.h"
#include "feedback/store_rows.h"
#include "rlhf/feedback/store.h"

namespace rlhf::feedback {

using sql::Stmt;
using sql::Transaction;

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double unit_draw(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t h = splitmix64(splitmix64(splitmix64(a) ^ b) ^ c);
  return double(h >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace

std::vector<int> Store::display_order_for(int64_t user_id, int64_t task_id, int k, uint64_t seed) const {
  // Fisher-Yates with a hash of (seed, annotator, task): the same annotator sees a task the same
  // way every time; different annotators see independent orders.
  std::vector<int> order(static_cast<size_t>(k));
  std::iota(order.begin(), order.end(), 0);
  uint64_t state = splitmix64(seed ^ splitmix64(uint64_t(user_id) * 0x100000001b3ULL ^ uint64_t(task_id)));
  for (int i = k - 1; i > 0; --i) {
    state = splitmix64(state);
    int j = int(state % uint64_t(i + 1));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

Assignment Store::assign(const Task& t, int64_t user_id, std::vector<int> order, const QueueConfig& q, double now) {
  Assignment a{t, std::move(order), now, now + q.assignment_timeout_s};
  Stmt(*db_,
       "INSERT OR REPLACE INTO assignments (task_id, user_id, display_order, assigned_at, expires_at)"
       " VALUES (?, ?, ?, ?, ?)")
      .bind(1, t.id)
      .bind(2, user_id)
      .bind(3, json(a.display_order).dump())
      .bind(4, a.assigned_at)
      .bind(5, a.expires_at)
      .run();
  return a;
}

std::optional<Assignment> Store::next_task(const User& u, const QueueConfig& q, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_);
  auto finish = [&](Assignment a) {
    tx.commit();
    return std::optional<Assignment>(std::move(a));
  };
  // 1. The annotator's own unanswered hand-out (a reload, or a task handed back by undo: the most
  //    recent first, so an undo shows the undone task again at once).
  {
    Stmt s(*db_,
           "SELECT task_id, display_order, assigned_at, expires_at FROM assignments"
           " WHERE user_id = ? AND expires_at > ? ORDER BY assigned_at DESC LIMIT 1");
    s.bind(1, u.id).bind(2, now);
    if (s.step()) {
      auto t = load_task(s.i64(0));
      Assignment a{*t, json::parse(s.text(1)).get<std::vector<int>>(), s.f64(2), s.f64(3)};
      tx.commit();
      return a;
    }
  }
  // 2. A duplicate made for them earlier and not answered (its hand-out expired).
  {
    Stmt s(*db_,
           "SELECT id FROM tasks WHERE kind = 'duplicate' AND owner_id = ? AND n_labels = 0 ORDER BY id LIMIT 1");
    s.bind(1, u.id);
    if (s.step()) {
      auto t = load_task(s.i64(0));
      Stmt o(*db_, "SELECT display_order FROM labels WHERE task_id = ? AND user_id = ?");
      o.bind(1, t->duplicate_of).bind(2, u.id);
      std::vector<int> order = o.step() ? json::parse(o.text(0)).get<std::vector<int>>() : std::vector<int>{};
      if (order.empty()) order = display_order_for(u.id, t->duplicate_of, int(t->responses.size()), q.seed);
      std::reverse(order.begin(), order.end());
      return finish(assign(*t, u.id, std::move(order), q, now));
    }
  }
  // The open normal task this annotator would get (nullopt: the queue is empty for them).
  auto next_normal = [&]() -> std::optional<Task> {
    Stmt s(*db_,
           "SELECT t.id, t.overlap, t.n_labels,"
           " (SELECT COUNT(*) FROM assignments a WHERE a.task_id = t.id AND a.expires_at > ? AND a.user_id != ?),"
           " EXISTS (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.user_id = ?)"
           " FROM tasks t WHERE t.kind = 'normal' AND t.done = 0 ORDER BY t.priority DESC, t.id");
    s.bind(1, now).bind(2, u.id).bind(3, u.id);
    while (s.step()) {
      if (s.i64(4)) continue;                        // never the same task twice to one annotator
      if (s.i64(2) + s.i64(3) >= s.i64(1)) continue;  // enough annotators hold or answered it
      return load_task(s.i64(0));
    }
    return std::nullopt;
  };
  auto normal = next_normal();
  if (!normal) {
    tx.commit();
    return std::nullopt;  // gold and duplicates are mixed into real work, never served alone
  }
  int64_t n_mine = 0;
  {
    Stmt s(*db_, "SELECT COUNT(*) FROM labels WHERE user_id = ?");
    s.bind(1, u.id);
    s.step();
    n_mine = s.i64(0);
  }
  double draw = unit_draw(q.seed, uint64_t(u.id), uint64_t(n_mine));
  // 3. A gold task.
  if (draw < q.gold_rate) {
    Stmt s(*db_,
           "SELECT t.id FROM tasks t WHERE t.kind = 'gold' AND NOT EXISTS"
           " (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.user_id = ?) ORDER BY t.priority DESC, t.id LIMIT 1");
    s.bind(1, u.id);
    if (s.step()) {
      auto t = load_task(s.i64(0));
      return finish(assign(*t, u.id, display_order_for(u.id, t->id, int(t->responses.size()), q.seed), q, now));
    }
  } else if (draw < q.gold_rate + q.duplicate_rate) {
    // 4. A swapped duplicate of a normal task they labelled at least duplicate_min_gap labels ago.
    Stmt s(*db_,
           "SELECT l.task_id, l.display_order FROM labels l JOIN tasks t ON t.id = l.task_id"
           " WHERE l.user_id = ? AND t.kind = 'normal' AND l.id <= COALESCE((SELECT id FROM labels WHERE user_id = ?"
           " ORDER BY id DESC LIMIT 1 OFFSET ?), -1) AND NOT EXISTS (SELECT 1 FROM tasks d WHERE d.duplicate_of ="
           " l.task_id AND d.owner_id = ?) ORDER BY l.id LIMIT 1");
    s.bind(1, u.id).bind(2, u.id).bind(3, int64_t(q.duplicate_min_gap)).bind(4, u.id);
    if (s.step()) {
      auto orig = load_task(s.i64(0));
      std::vector<int> order = json::parse(s.text(1)).get<std::vector<int>>();
      if (order.empty()) order = display_order_for(u.id, orig->id, int(orig->responses.size()), q.seed);
      std::reverse(order.begin(), order.end());  // shown the other way round
      Stmt(*db_,
           "INSERT INTO tasks (external_id, prompt, responses, k, priority, kind, duplicate_of, owner_id, overlap,"
           " meta, created_at) VALUES (?, ?, ?, ?, ?, 'duplicate', ?, ?, 1, ?, ?)")
          .bind(1, orig->external_id)
          .bind(2, orig->prompt)
          .bind(3, json(orig->responses).dump())
          .bind(4, int64_t(orig->responses.size()))
          .bind(5, orig->priority)
          .bind(6, orig->id)
          .bind(7, u.id)
          .bind(8, orig->meta.dump())
          .bind(9, now)
          .run();
      auto dup = load_task(db_->last_insert_id());
      return finish(assign(*dup, u.id, std::move(order), q, now));
    }
  }
  // 5. The queue.
  return finish(assign(*normal, u.id, display_order_for(u.id, normal->id, int(normal->responses.size()), q.seed), q, now));
}

int64_t Store::remaining_for(const User& u) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_,
         "SELECT COUNT(*) FROM tasks t WHERE t.kind = 'normal' AND t.done = 0 AND NOT EXISTS"
         " (SELECT 1 FROM labels l WHERE l.task_id = t.id AND l.user_id = ?)");
  s.bind(1, u.id);
  s.step();
  return s.i64(0);
}

}  // namespace rlhf::feedback
