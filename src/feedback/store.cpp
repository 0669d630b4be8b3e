// The annotation store: opening and migrating the database, users and tokens, tasks, labels and
// ratings (the queue's hand-out logic is in queue.cpp).
#include "rlhf/feedback/store.h"

#include <algorithm>
#include <set>

#include "feedback/db.h"
#include "feedback/schema.h"
#include "feedback/store_rows.h"
#include "rlhf/feedback/sha256.h"

namespace rlhf::feedback {

using sql::Stmt;
using sql::Transaction;

void QueueConfig::validate() const {
  if (!(assignment_timeout_s > 0)) throw Error("assignment timeout must be > 0 seconds");
  if (!(gold_rate >= 0 && gold_rate <= 1)) throw Error("gold rate must be in [0, 1]");
  if (!(duplicate_rate >= 0 && duplicate_rate <= 1)) throw Error("duplicate rate must be in [0, 1]");
  if (gold_rate + duplicate_rate > 1) throw Error("gold rate + duplicate rate must be <= 1");
  if (duplicate_min_gap < 0) throw Error("duplicate min gap must be >= 0");
}

Store::Store(const std::string& path, StoreOptions opts) : db_(std::make_unique<sql::Db>(path)) {
  {
    Stmt wal(*db_, "PRAGMA journal_mode=WAL");
    wal.step();
    if (wal.text(0) != "wal") throw Error(path + ": cannot switch the database to WAL mode (got " + wal.text(0) + ")");
  }
  db_->exec(std::string("PRAGMA foreign_keys=ON; PRAGMA synchronous=") + (opts.sync_full ? "FULL" : "NORMAL"));
  migrate();
}

Store::~Store() = default;

void Store::migrate() {
  std::lock_guard<std::mutex> lock(mu_);
  db_->exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  Transaction tx(*db_);
  int64_t v = 0;
  {
    Stmt s(*db_, "SELECT MAX(version) FROM schema_version");
    if (s.step() && !s.is_null(0)) v = s.i64(0);
  }
  const auto& migrations = schema_migrations();
  if (v > int64_t(migrations.size()))
    throw Error(db_->path() + ": database schema version " + std::to_string(v) + " is newer than this binary's (" +
                std::to_string(migrations.size()) + "); use a newer rlhf");
  for (size_t i = size_t(v); i < migrations.size(); ++i) {
    db_->exec(migrations[i]);
    Stmt(*db_, "INSERT INTO schema_version (version) VALUES (?)").bind(1, int64_t(i + 1)).run();
  }
  tx.commit();
}

int Store::schema_version() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_, "SELECT MAX(version) FROM schema_version");
  s.step();
  return int(s.i64(0));
}

std::string Store::integrity_check() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_, "PRAGMA integrity_check");
  std::string out;
  while (s.step()) out += (out.empty() ? "" : "; ") + s.text(0);
  Stmt fk(*db_, "PRAGMA foreign_key_check");
  if (fk.step()) out += "; foreign key violation in table " + fk.text(0);
  return out;
}

// ---- users -------------------------------------------------------------------------------------

std::string Store::create_user(const std::string& name, Role role, bool replace_token) {
  if (name.empty() || name.size() > 100) throw Error("annotator name must be 1-100 characters");
  std::lock_guard<std::mutex> lock(mu_);
  std::string token = random_token();
  Transaction tx(*db_);
  Stmt find(*db_, "SELECT role FROM users WHERE name = ?");
  find.bind(1, name);
  if (find.step()) {
    if (!replace_token) throw Error("user \"" + name + "\" exists; pass --replace to issue a new token for it");
    if (find.text(0) != role_name(role))
      throw Error("user \"" + name + "\" is an " + find.text(0) + ", not an " + role_name(role));
    Stmt(*db_, "UPDATE users SET token_sha256 = ? WHERE name = ?").bind(1, sha256_hex(token)).bind(2, name).run();
  } else {
    Stmt(*db_, "INSERT INTO users (name, role, token_sha256, created_at) VALUES (?, ?, ?, strftime('%s','now'))")
        .bind(1, name)
        .bind(2, role_name(role))
        .bind(3, sha256_hex(token))
        .run();
  }
  tx.commit();
  return token;
}

std::optional<User> Store::user_by_token(const std::string& token) {
  std::string h = sha256_hex(token);
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_, "SELECT id, name, role FROM users WHERE token_sha256 = ?");
  s.bind(1, h);
  if (!s.step()) return std::nullopt;
  return User{s.i64(0), s.text(1), parse_role(s.text(2))};
}

std::vector<User> Store::users() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<User> out;
  Stmt s(*db_, "SELECT id, name, role FROM users ORDER BY id");
  while (s.step()) out.push_back({s.i64(0), s.text(1), parse_role(s.text(2))});
  return out;
}

// ---- tasks -------------------------------------------------------------------------------------

std::vector<int64_t> Store::add_tasks(const std::vector<TaskInput>& tasks, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_);
  Stmt ins(*db_,
           "INSERT INTO tasks (external_id, prompt, responses, k, priority, kind, gold_levels, overlap, meta, created_at)"
           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  std::vector<int64_t> ids;
  for (const auto& t : tasks) {
    if (t.responses.size() < 2) throw Error("a task needs at least 2 responses");
    if (t.overlap < 1) throw Error("overlap must be >= 1");
    if (!t.gold_levels.empty() && t.gold_levels.size() != t.responses.size())
      throw Error("gold answer must give one level per response");
    ins.reset();
    ins.bind(1, t.external_id)
        .bind(2, t.prompt)
        .bind(3, json(t.responses).dump())
        .bind(4, int64_t(t.responses.size()))
        .bind(5, t.priority)
        .bind(6, t.gold_levels.empty() ? "normal" : "gold")
        .bind(7, t.gold_levels.empty() ? std::optional<std::string>() : json(t.gold_levels).dump())
        .bind(8, int64_t(t.overlap))
        .bind(9, t.meta.dump())
        .bind(10, now);
    ins.run();
    ids.push_back(db_->last_insert_id());
  }
  tx.commit();
  return ids;
}

std::optional<Task> Store::load_task(int64_t id) {
  Stmt s(*db_, std::string("SELECT ") + kTaskColumns + " FROM tasks WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return task_from_row(s);
}

std::optional<Task> Store::task(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return load_task(id);
}

// ---- labels ------------------------------------------------------------------------------------

namespace {

void validate_label(const Task& t, const LabelInput& in) {
  int k = int(t.responses.size());
  auto check_index = [&](int i, const char* field) {
    if (i < 0 || i >= k)
      throw ApiError(400, std::string("\"") + field + "\" must be a response index in 0.." + std::to_string(k - 1) +
                              " (got " + std::to_string(i) + ")");
  };
  if (in.kind == "pair") {
    check_index(in.chosen, "chosen");
    check_index(in.rejected, "rejected");
    if (in.chosen == in.rejected) throw ApiError(400, "\"chosen\" and \"rejected\" must be different responses");
  } else {
    std::vector<int> seen(static_cast<size_t>(k), 0);
    for (const auto& g : in.ranking) {
      if (g.empty()) throw ApiError(400, "\"ranking\" has an empty tie group");
      for (int i : g) {
        check_index(i, "ranking");
        if (seen[size_t(i)]++) throw ApiError(400, "\"ranking\" lists response " + std::to_string(i) + " twice");
      }
    }
    for (int i = 0; i < k; ++i)
      if (!seen[size_t(i)])
        throw ApiError(400, "\"ranking\" must rank all " + std::to_string(k) + " responses (missing " +
                                std::to_string(i) + ")");
  }
}

}  // namespace

int64_t Store::add_label(const User& u, const LabelInput& in, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_);
  auto t = load_task(in.task_id);
  if (!t || (t->kind == "duplicate" && t->owner_id != u.id))
    throw ApiError(404, "unknown task_id " + std::to_string(in.task_id));
  validate_label(*t, in);
  {
    Stmt s(*db_, "SELECT id FROM labels WHERE task_id = ? AND user_id = ?");
    s.bind(1, in.task_id).bind(2, u.id);
    if (s.step())
      throw ApiError(409, "task " + std::to_string(in.task_id) + " already has your label " + std::to_string(s.i64(0)) +
                              " (undo it with DELETE /api/labels/last to change it)");
  }
  std::vector<int> order;
  std::optional<double> seconds;
  {
    Stmt s(*db_, "SELECT display_order, assigned_at FROM assignments WHERE task_id = ? AND user_id = ?");
    s.bind(1, in.task_id).bind(2, u.id);
    if (s.step()) {
      order = json::parse(s.text(0)).get<std::vector<int>>();
      seconds = std::max(0.0, now - s.f64(1));
    }
  }
  std::optional<int64_t> chosen_left;
  if (in.kind == "pair" && is_strict(in.strength) && !order.empty()) {
    auto pos = [&](int i) { return std::find(order.begin(), order.end(), i) - order.begin(); };
    chosen_left = pos(in.chosen) < pos(in.rejected) ? 1 : 0;
  }
  Stmt ins(*db_,
           "INSERT INTO labels (task_id, user_id, kind, chosen, rejected, strength, ranking, display_order, chosen_left,"
           " flags, rationale, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ins.bind(1, in.task_id).bind(2, u.id).bind(3, in.kind);
  if (in.kind == "pair") {
    ins.bind(4, int64_t(in.chosen)).bind(5, int64_t(in.rejected)).bind(6, strength_name(in.strength)).bind_null(7);
  } else {
    ins.bind_null(4).bind_null(5).bind_null(6).bind(7, json(in.ranking).dump());
  }
  ins.bind(8, json(order).dump());
  if (chosen_left)
    ins.bind(9, *chosen_left);
  else
    ins.bind_null(9);
  ins.bind(10, json(in.flags).dump()).bind(11, in.rationale);
  if (seconds)
    ins.bind(12, *seconds);
  else
    ins.bind_null(12);
  ins.bind(13, now);
  ins.run();
  int64_t id = db_->last_insert_id();
  Stmt(*db_, "UPDATE tasks SET n_labels = n_labels + 1, done = (n_labels + 1 >= overlap) WHERE id = ?")
      .bind(1, in.task_id)
      .run();
  Stmt(*db_, "DELETE FROM assignments WHERE task_id = ? AND user_id = ?").bind(1, in.task_id).bind(2, u.id).run();
  tx.commit();
  return id;
}

std::optional<Label> Store::load_label(int64_t id) {
  Stmt s(*db_, std::string("SELECT ") + kLabelColumns + " FROM labels l JOIN users u ON u.id = l.user_id WHERE l.id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return label_from_row(s);
}

std::optional<Label> Store::label(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return load_label(id);
}

void Store::remove_label(const Label& l, const QueueConfig& q, double now) {
  Stmt(*db_, "DELETE FROM labels WHERE id = ?").bind(1, l.id).run();
  Stmt(*db_, "UPDATE tasks SET n_labels = n_labels - 1, done = (n_labels - 1 >= overlap) WHERE id = ?")
      .bind(1, l.task_id)
      .run();
  // The task goes back to its author, shown in the same order, so they can answer again.
  Stmt(*db_,
       "INSERT OR REPLACE INTO assignments (task_id, user_id, display_order, assigned_at, expires_at)"
       " VALUES (?, ?, ?, ?, ?)")
      .bind(1, l.task_id)
      .bind(2, l.user_id)
      .bind(3, json(l.display_order).dump())
      .bind(4, now)
      .bind(5, now + q.assignment_timeout_s)
      .run();
}

std::optional<Label> Store::undo_last(const User& u, const QueueConfig& q, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_);
  Stmt s(*db_, "SELECT MAX(id) FROM labels WHERE user_id = ?");
  s.bind(1, u.id);
  if (!s.step() || s.is_null(0)) return std::nullopt;
  auto l = load_label(s.i64(0));
  if (!l) return std::nullopt;
  if (l->display_order.empty()) {
    auto t = load_task(l->task_id);
    l->display_order = display_order_for(u.id, l->task_id, int(t->responses.size()), q.seed);
  }
  remove_label(*l, q, now);
  tx.commit();
  return l;
}

bool Store::delete_label(int64_t id, const QueueConfig& q, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_);
  auto l = load_label(id);
  if (!l) return false;
  if (l->display_order.empty()) {
    auto t = load_task(l->task_id);
    l->display_order = display_order_for(l->user_id, l->task_id, int(t->responses.size()), q.seed);
  }
  remove_label(*l, q, now);
  tx.commit();
  return true;
}

std::vector<Label> Store::labels_of(int64_t user_id, int64_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Label> out;
  Stmt s(*db_, std::string("SELECT ") + kLabelColumns +
                   " FROM labels l JOIN users u ON u.id = l.user_id WHERE l.user_id = ? ORDER BY l.id DESC LIMIT ?");
  s.bind(1, user_id).bind(2, limit);
  while (s.step()) out.push_back(label_from_row(s));
  return out;
}

int64_t Store::label_count() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_, "SELECT COUNT(*) FROM labels");
  s.step();
  return s.i64(0);
}

int64_t Store::label_count_of(int64_t user_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_, "SELECT COUNT(*) FROM labels WHERE user_id = ?");
  s.bind(1, user_id);
  s.step();
  return s.i64(0);
}

// ---- ratings, snapshot, counts -----------------------------------------------------------------

int64_t Store::add_rating(const User& u, const RatingInput& in, double now) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(*db_,
         "INSERT INTO ratings (user_id, prompt, response, thumbs, rating, model, comment, created_at)"
         " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, u.id).bind(2, in.prompt).bind(3, in.response);
  if (in.thumbs)
    s.bind(4, int64_t(*in.thumbs));
  else
    s.bind_null(4);
  if (in.rating)
    s.bind(5, int64_t(*in.rating));
  else
    s.bind_null(5);
  s.bind(6, in.model).bind(7, in.comment).bind(8, now);
  s.run();
  return db_->last_insert_id();
}

Snapshot Store::snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_);  // one consistent view
  Snapshot snap;
  {
    Stmt s(*db_, "SELECT id, name, role FROM users ORDER BY id");
    while (s.step()) snap.users.push_back({s.i64(0), s.text(1), parse_role(s.text(2))});
  }
  {
    Stmt s(*db_, std::string("SELECT ") + kTaskColumns + " FROM tasks ORDER BY id");
    while (s.step()) snap.tasks.push_back(task_from_row(s));
  }
  {
    Stmt s(*db_, std::string("SELECT ") + kLabelColumns + " FROM labels l JOIN users u ON u.id = l.user_id ORDER BY l.id");
    while (s.step()) snap.labels.push_back(label_from_row(s));
  }
  {
    Stmt s(*db_,
           "SELECT r.id, r.user_id, u.name, r.prompt, r.response, r.thumbs, r.rating, r.model, r.comment, r.created_at"
           " FROM ratings r JOIN users u ON u.id = r.user_id ORDER BY r.id");
    while (s.step()) {
      Rating r;
      r.id = s.i64(0);
      r.user_id = s.i64(1);
      r.user_name = s.text(2);
      r.input.prompt = s.text(3);
      r.input.response = s.text(4);
      if (!s.is_null(5)) r.input.thumbs = int(s.i64(5));
      if (!s.is_null(6)) r.input.rating = int(s.i64(6));
      r.input.model = s.text(7);
      r.input.comment = s.text(8);
      r.created_at = s.f64(9);
      snap.ratings.push_back(std::move(r));
    }
  }
  tx.commit();
  return snap;
}

json Store::counts() {
  std::lock_guard<std::mutex> lock(mu_);
  auto one = [&](const char* q) {
    Stmt s(*db_, q);
    s.step();
    return s.i64(0);
  };
  return {{"tasks",
           {{"normal", one("SELECT COUNT(*) FROM tasks WHERE kind = 'normal'")},
            {"gold", one("SELECT COUNT(*) FROM tasks WHERE kind = 'gold'")},
            {"duplicate", one("SELECT COUNT(*) FROM tasks WHERE kind = 'duplicate'")},
            {"open", one("SELECT COUNT(*) FROM tasks WHERE kind = 'normal' AND done = 0")}}},
          {"labels", one("SELECT COUNT(*) FROM labels")},
          {"annotators", one("SELECT COUNT(*) FROM users WHERE role = 'annotator'")},
          {"ratings", one("SELECT COUNT(*) FROM ratings")}};
}

}  // namespace rlhf::feedback
