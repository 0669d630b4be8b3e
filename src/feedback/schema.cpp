// Schema migrations of the feedback store (see schema.h).
#include "feedback/schema.h"

namespace rlhf::feedback {

const std::vector<std::string>& schema_migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: users, tasks, hand-outs, labels, ratings.
      R"SQL(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('annotator', 'admin')),
  token_sha256 TEXT NOT NULL UNIQUE,
  created_at REAL NOT NULL
);
CREATE TABLE tasks (
  id INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL DEFAULT '',
  prompt TEXT NOT NULL,
  responses TEXT NOT NULL,              -- JSON array of strings
  k INTEGER NOT NULL CHECK (k >= 2),
  priority REAL NOT NULL DEFAULT 0,
  kind TEXT NOT NULL CHECK (kind IN ('normal', 'gold', 'duplicate')),
  gold_levels TEXT,                     -- JSON array of rank levels for gold tasks
  duplicate_of INTEGER REFERENCES tasks(id),
  owner_id INTEGER REFERENCES users(id),
  overlap INTEGER NOT NULL DEFAULT 1 CHECK (overlap >= 1),
  n_labels INTEGER NOT NULL DEFAULT 0,
  done INTEGER NOT NULL DEFAULT 0,      -- n_labels >= overlap
  meta TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL
);
CREATE INDEX tasks_queue ON tasks (kind, done, priority DESC, id);
CREATE INDEX tasks_duplicates ON tasks (duplicate_of, owner_id);
CREATE TABLE assignments (
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  display_order TEXT NOT NULL,
  assigned_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  PRIMARY KEY (task_id, user_id)
);
CREATE INDEX assignments_user ON assignments (user_id, expires_at);
CREATE TABLE labels (
  id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, even after an undo
  task_id INTEGER NOT NULL REFERENCES tasks(id),
  user_id INTEGER NOT NULL REFERENCES users(id),
  kind TEXT NOT NULL CHECK (kind IN ('pair', 'ranking')),
  chosen INTEGER,
  rejected INTEGER,
  strength TEXT CHECK (strength IN ('much_better', 'better', 'slightly_better', 'tie', 'both_bad')),
  ranking TEXT,                         -- JSON list of tie groups, best first
  display_order TEXT NOT NULL DEFAULT '[]',
  chosen_left INTEGER,
  flags TEXT NOT NULL DEFAULT '[]',
  rationale TEXT NOT NULL DEFAULT '',
  seconds REAL,
  created_at REAL NOT NULL,
  UNIQUE (task_id, user_id)
);
CREATE INDEX labels_user ON labels (user_id, id);
CREATE TABLE ratings (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  prompt TEXT NOT NULL,
  response TEXT NOT NULL,
  thumbs INTEGER CHECK (thumbs IN (-1, 1)),
  rating INTEGER CHECK (rating BETWEEN 1 AND 5),
  model TEXT NOT NULL DEFAULT '',
  comment TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL
);
)SQL",
  };
  return kMigrations;
}

}  // namespace rlhf::feedback
