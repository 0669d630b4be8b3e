// The records of the human-feedback store: users, tasks (a prompt with K candidate responses),
// labels (a pairwise choice with a strength, or a ranking with ties) and deployment ratings.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "rlhf/io/error.h"

namespace rlhf::feedback {

using json = nlohmann::json;

// An error the HTTP API turns into a JSON 4xx answer: {"error": message}.
class ApiError : public Error {
 public:
  ApiError(int status, const std::string& msg) : Error(msg), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

enum class Role { Annotator, Admin };
const char* role_name(Role r);
Role parse_role(const std::string& s);  // "annotator" | "admin"; throws rlhf::Error otherwise

struct User {
  int64_t id = 0;
  std::string name;
  Role role = Role::Annotator;
};

// Pairwise strengths, from the chosen response's point of view. A tie (equally good) and
// both_bad (neither is acceptable) are different answers and stay different everywhere.
enum class Strength { MuchBetter, Better, SlightlyBetter, Tie, BothBad };
const char* strength_name(Strength s);                    // "much_better", ...
std::optional<Strength> parse_strength(const std::string& s);
// The numeric margin exported beside the name (Llama 2's margin scale): much_better 1,
// better 2/3, slightly_better 1/3, tie and both_bad 0.
double strength_margin(Strength s);
bool is_strict(Strength s);  // much_better, better, slightly_better

// The quality-control flags an annotator may set on a label.
extern const std::vector<std::string> kFlagNames;  // "unsafe", "factually_wrong", "off_topic"

// A task to import: one prompt and K >= 2 candidate responses.
struct TaskInput {
  std::string prompt;
  std::vector<std::string> responses;
  double priority = 0;             // higher is served first (e.g. reward-ensemble disagreement)
  std::string external_id;         // the record's "id", if any
  std::vector<int> gold_levels;    // gold task: the known answer as rank levels (0 = best); empty = not gold
  int overlap = 1;                 // how many different annotators should label it
  json meta = json::object();      // other fields of the record, kept for export
};

// Task kinds: "normal" (the queue), "gold" (known answer, mixed in), "duplicate" (a swapped
// copy of a task an annotator already labelled, served only to that annotator).
struct Task {
  int64_t id = 0;
  std::string external_id;
  std::string prompt;
  std::vector<std::string> responses;
  double priority = 0;
  std::string kind = "normal";
  std::vector<int> gold_levels;
  int64_t duplicate_of = 0;  // for kind "duplicate": the original task
  int64_t owner_id = 0;      // for kind "duplicate": the only annotator who sees it
  int overlap = 1;
  int n_labels = 0;
  json meta = json::object();
  double created_at = 0;
};

// What an annotator is handed: the task and the order its responses are shown in.
struct Assignment {
  Task task;
  std::vector<int> display_order;  // response indices, left/first shown first
  double assigned_at = 0;
  double expires_at = 0;
};

// A label as submitted. kind "pair": chosen/rejected/strength; kind "ranking": groups of tied
// indices, best first, covering every response exactly once.
struct LabelInput {
  int64_t task_id = 0;
  std::string kind = "pair";
  int chosen = -1, rejected = -1;
  Strength strength = Strength::Better;
  std::vector<std::vector<int>> ranking;
  std::vector<std::string> flags;
  std::string rationale;
};

struct Label {
  int64_t id = 0;
  int64_t task_id = 0;
  int64_t user_id = 0;
  std::string user_name;
  std::string kind = "pair";
  int chosen = -1, rejected = -1;
  Strength strength = Strength::Better;
  std::vector<std::vector<int>> ranking;
  std::vector<int> display_order;   // empty when the label came without an assignment
  std::optional<bool> chosen_left;  // strict pair labels: whether the chosen one was shown first
  std::vector<std::string> flags;
  std::string rationale;
  std::optional<double> seconds;    // from hand-out to answer
  double created_at = 0;
};

// Deployment feedback on one response: thumbs up/down and/or a 1-5 rating.
struct RatingInput {
  std::string prompt, response;
  std::optional<int> thumbs;  // +1 up, -1 down
  std::optional<int> rating;  // 1..5
  std::string model, comment;
};

struct Rating {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string user_name;
  RatingInput input;
  double created_at = 0;
};

// Everything stats and export read, loaded in one go.
struct Snapshot {
  std::vector<User> users;
  std::vector<Task> tasks;  // ordered by id
  std::vector<Label> labels;  // ordered by id
  std::vector<Rating> ratings;
  const Task* task(int64_t id) const;  // nullptr when unknown
};

// JSON forms used by the API and export.
json label_to_json(const Label& l);
json task_to_json(const Assignment& a);
json ranking_to_json(const std::vector<std::vector<int>>& groups);  // [2, [0, 3], 1]

// Rank levels from tie groups: levels[response] = index of its group (0 = best).
std::vector<int> levels_from_groups(const std::vector<std::vector<int>>& groups, int k);

}  // namespace rlhf::feedback
