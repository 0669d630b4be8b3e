// The annotation store: one SQLite file in WAL mode (foreign keys on, versioned migrations)
// holding users and hashed tokens, tasks, the queue's hand-outs, labels and deployment ratings.
// Thread-safe: one connection behind a mutex (SQLite has one writer at a time anyway).
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "rlhf/feedback/types.h"

namespace rlhf::feedback {

namespace sql {
class Db;
}

struct StoreOptions {
  bool sync_full = false;  // false: synchronous=NORMAL (WAL: a committed label survives a crash of
                           // the process, may be lost on power failure); true: fsync every commit
};

// How the queue hands out work.
struct QueueConfig {
  double assignment_timeout_s = 900;  // a hand-out not answered within this returns to the queue
  double gold_rate = 0.1;             // share of hand-outs that are gold tasks (while any are left)
  double duplicate_rate = 0.05;       // share of hand-outs that are swapped duplicates of own labels
  int duplicate_min_gap = 3;          // a duplicate repeats a task labelled at least this many labels ago
  uint64_t seed = 0;                  // display orders and gold/duplicate draws are a function of it
  void validate() const;              // throws rlhf::Error naming the field
};

class Store {
 public:
  static constexpr int kSchemaVersion = 1;

  explicit Store(const std::string& path, StoreOptions opts = {});  // opens/creates and migrates
  ~Store();
  int schema_version();
  std::string integrity_check();  // "ok" when PRAGMA integrity_check passes

  // Users. create_user returns the new plain token (only its SHA-256 is stored); an existing name
  // is an error unless `replace_token`, which issues a new token for that user (the role must match).
  std::string create_user(const std::string& name, Role role, bool replace_token = false);
  std::optional<User> user_by_token(const std::string& token);
  std::vector<User> users();

  // Tasks. Imported in one transaction; returns the new ids.
  std::vector<int64_t> add_tasks(const std::vector<TaskInput>& tasks, double now);
  std::optional<Task> task(int64_t id);

  // The queue: the caller's current hand-out if it has one, else (maybe) a gold task or a swapped
  // duplicate, else the open task with the highest priority (oldest first among equals) that this
  // annotator has never labelled and that still needs annotators. nullopt: nothing left.
  std::optional<Assignment> next_task(const User& u, const QueueConfig& q, double now);
  int64_t remaining_for(const User& u);  // open normal tasks this annotator has not labelled

  // Labels. add_label validates against the task (ApiError 400/404/409) and returns the id.
  int64_t add_label(const User& u, const LabelInput& in, double now);
  // Removes the caller's most recent label and hands its task back to them. nullopt: none.
  std::optional<Label> undo_last(const User& u, const QueueConfig& q, double now);
  std::optional<Label> label(int64_t id);
  bool delete_label(int64_t id, const QueueConfig& q, double now);  // hands the task back to its author
  std::vector<Label> labels_of(int64_t user_id, int64_t limit);  // newest first
  int64_t label_count();
  int64_t label_count_of(int64_t user_id);

  int64_t add_rating(const User& u, const RatingInput& in, double now);

  Snapshot snapshot();
  json counts();  // {"tasks": {"normal", "gold", "duplicate", "open"}, "labels", "annotators", "ratings"}

 private:
  void migrate();
  std::vector<int> display_order_for(int64_t user_id, int64_t task_id, int k, uint64_t seed) const;
  Assignment assign(const Task& t, int64_t user_id, std::vector<int> order, const QueueConfig& q, double now);
  std::optional<Task> load_task(int64_t id);
  std::optional<Label> load_label(int64_t id);
  void remove_label(const Label& l, const QueueConfig& q, double now);

  std::unique_ptr<sql::Db> db_;
  std::mutex mu_;
};

}  // namespace rlhf::feedback
