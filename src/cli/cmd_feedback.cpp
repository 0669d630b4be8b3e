// rlhf feedback import|token|export|stats|simulate: manage the annotation database from the
// command line, and let the world's simulated annotators label through a running server.
#include <chrono>
#include <iostream>
#include <map>

#include "cli/command.h"
#include "rlhf/feedback/export.h"
#include "rlhf/feedback/import.h"
#include "rlhf/feedback/simulate.h"
#include "rlhf/feedback/stats.h"
#include "rlhf/feedback/store.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/util/flags.h"

namespace {
using rlhf::Error;
using rlhf::Flags;
namespace fb = rlhf::feedback;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string require_db(const Flags& f) {
  if (f.str("db").empty()) throw Error("--db: required (the annotation database, as given to rlhf serve)");
  return f.str("db");
}

int run_import(int argc, char** argv) {
  Flags f("feedback import",
          "Import annotation tasks: JSONL of {\"prompt\", \"responses\": [...]}, {\"prompt\", \"chosen\", \"rejected\"}, "
          "or rlhf generate's {\"prompt\", \"response\"} records (grouped by prompt), with optional \"priority\", "
          "\"id\", \"overlap\", \"gold_answer\".");
  f.add("db", "", "annotation database (created if absent)");
  f.add_positional("tasks", "the JSONL file of tasks");
  f.add("overlap", "1", "annotators per task (records may override with \"overlap\")");
  f.add("priority-field", "priority", "numeric field of each record giving its priority (higher first)");
  f.add("scores", "",
        "rlhf rm score output from a reward-model ensemble ({prompt, response, reward_std}): a task's priority "
        "becomes the mean reward_std of its responses (active learning: least certain first)");
  f.add_bool("gold", "records' \"gold\": [score per response] (rlhf world judge) make them gold tasks");
  if (!f.parse(argc, argv)) return 0;
  fb::ImportOptions o;
  o.overlap = int(f.integer("overlap"));
  if (o.overlap < 1) throw Error("--overlap: must be >= 1");
  o.priority_field = f.str("priority-field");
  o.gold_from_scores = f.flag("gold");
  size_t skipped = 0;
  auto tasks = fb::read_tasks(f.str("tasks"), o, &skipped);
  if (skipped)
    std::cerr << "feedback import: skipped " << skipped << " prompts with fewer than 2 distinct responses\n";
  if (!f.str("scores").empty()) {
    std::map<std::pair<std::string, std::string>, double> stdev;
    rlhf::io::for_each_jsonl(f.str("scores"), [&](const rlhf::io::json& r, const rlhf::io::Where& w) {
      stdev[{rlhf::io::get_string(r, "prompt", w), rlhf::io::get_string(r, "response", w)}] =
          rlhf::io::get_number(r, "reward_std", w);
    });
    size_t missing = 0;
    for (auto& t : tasks) {
      double sum = 0;
      int n = 0;
      for (const auto& resp : t.responses) {
        auto it = stdev.find({t.prompt, resp});
        if (it != stdev.end()) sum += it->second, ++n;
      }
      if (n)
        t.priority = sum / n;
      else
        ++missing;
    }
    if (missing) std::cerr << "feedback import: " << missing << " tasks have no score in " << f.str("scores") << "\n";
  }
  fb::Store store(require_db(f));
  auto ids = store.add_tasks(tasks, now_seconds());
  size_t gold = 0;
  for (const auto& t : tasks) gold += !t.gold_levels.empty();
  std::cerr << "feedback import: " << ids.size() << " tasks (" << gold << " gold) into " << f.str("db") << "\n";
  return 0;
}

int run_token(int argc, char** argv) {
  Flags f("feedback token", "Create a user and print its new API token (only its SHA-256 is stored).");
  f.add("db", "", "annotation database (created if absent)");
  f.add_choice("role", "annotator", {"annotator", "admin"}, "annotators label; admins also see the dashboard");
  f.add("name", "", "user name (shown on the dashboard and in the export)");
  f.add_bool("replace", "the user exists: revoke its token and issue a new one");
  if (!f.parse(argc, argv)) return 0;
  if (f.str("name").empty()) throw Error("--name: required");
  fb::Store store(require_db(f));
  std::cout << store.create_user(f.str("name"), fb::parse_role(f.str("role")), f.flag("replace")) << "\n";
  return 0;
}

int run_export(int argc, char** argv) {
  Flags f("feedback export",
          "Write the labels as the pair/ranking JSONL that rlhf rm train reads (stdout); see docs/feedback.md.");
  f.add("db", "", "annotation database");
  f.add_choice("what", "labels", {"labels", "ratings"}, "labels (comparisons) or ratings (deployment feedback)");
  f.add_choice("aggregate", "none", {"none", "majority", "bradley_terry"},
               "none: one record per label; majority: one per compared pair (plurality vote); bradley_terry: one "
               "per compared pair, ordered by a Bradley-Terry fit over every annotator's answers on the task");
  f.add("min-agreement", "-1", "drop annotators whose agreement with the majority is below this (-1 = keep all)");
  f.add("min-gold-accuracy", "-1", "drop annotators whose accuracy on gold tasks is below this (-1 = keep all)");
  f.add("min-items", "5", "an annotator is dropped only when measured on at least this many items");
  f.add_bool("weight-by-agreement", "aggregates: weight each vote by its annotator's agreement with the majority");
  f.add_bool("no-gold", "leave out labels on gold tasks");
  f.add_bool("duplicates", "include labels on swapped duplicates (repeats; off by default)");
  f.add_bool("drop-both-bad", "leave out both_bad answers (exported by default as tie + both_bad)");
  if (!f.parse(argc, argv)) return 0;
  fb::ExportOptions o;
  o.what = f.str("what");
  o.aggregate = f.str("aggregate");
  o.min_agreement = f.num("min-agreement");
  o.min_gold_accuracy = f.num("min-gold-accuracy");
  o.min_agreement_items = f.integer("min-items");
  o.weight_by_agreement = f.flag("weight-by-agreement");
  o.include_gold = !f.flag("no-gold");
  o.include_duplicates = f.flag("duplicates");
  o.drop_both_bad = f.flag("drop-both-bad");
  fb::Store store(require_db(f));
  auto rep = fb::export_jsonl(store.snapshot(), o, std::cout);
  std::cout.flush();
  std::cerr << "feedback export: " << rep.records << " records from " << rep.labels_used << " labels";
  if (!rep.dropped_annotators.empty()) {
    std::cerr << "; dropped annotators:";
    for (const auto& a : rep.dropped_annotators) std::cerr << " " << a;
  }
  if (rep.contested) std::cerr << "; " << rep.contested << " pairs without a majority left out";
  std::cerr << "\n";
  return 0;
}

int run_stats(int argc, char** argv) {
  Flags f("feedback stats", "Print the dashboard statistics (per-annotator quality, agreement) as JSON.");
  f.add("db", "", "annotation database");
  if (!f.parse(argc, argv)) return 0;
  fb::Store store(require_db(f));
  std::cout << fb::dashboard_stats(store.snapshot()).dump(2) << "\n";
  return 0;
}

int run_simulate(int argc, char** argv) {
  Flags f("feedback simulate",
          "Label through a running server with the world's simulated annotators (one thread per token).");
  f.add("url", "http://127.0.0.1:8080", "the server");
  f.add_list("tokens", "annotator tokens, one per simulated annotator (rlhf feedback token)");
  f.add("token", "", "a single annotator token (same as one --tokens)");
  f.add("first-annotator", "0", "token i is the world's annotator first-annotator + i");
  f.add("pool-size", "0", "annotators in the world's pool (0 = first-annotator + tokens)");
  f.add_choice("mode", "pair", {"pair", "ranking"}, "pair: the two responses shown first; ranking: all K");
  f.add("labels", "-1", "labels per annotator (-1 = until the queue is empty)");
  f.add("temperature", "0.15", "annotator noise: P(a>b) = sigmoid((gold_a - gold_b)/T + bias)");
  f.add("flip-rate", "0.08", "probability that a label is reversed");
  f.add("bias-strength", "1.0", "per-annotator over-weighting of one judge axis (logits)");
  f.add("tie-below", "0.05", "answer tie when the annotator's |2P-1| is below this");
  f.add("seed", "0", "the annotators' seed");
  if (!f.parse(argc, argv)) return 0;
  fb::SimulateConfig c;
  c.url = f.str("url");
  c.tokens = f.list("tokens");
  if (!f.str("token").empty()) c.tokens.push_back(f.str("token"));
  c.first_annotator = int(f.integer("first-annotator"));
  c.pool_size = int(f.integer("pool-size"));
  c.mode = f.str("mode");
  c.max_labels = f.integer("labels");
  c.annotator.temperature = f.num("temperature");
  c.annotator.flip_rate = f.num("flip-rate");
  c.annotator.bias_strength = f.num("bias-strength");
  c.tie_below = f.num("tie-below");
  if (f.integer("seed") < 0) throw Error("--seed: must be >= 0");
  c.annotator.seed = uint64_t(f.integer("seed"));
  auto rep = fb::simulate_annotators(c);
  std::cerr << "feedback simulate: " << rep.labels << " labels from " << c.tokens.size() << " annotators\n";
  for (const auto& m : rep.messages) std::cerr << "  " << m << "\n";
  return rep.errors ? 1 : 0;
}

rlhf::cli::RegisterCommand reg_import("feedback import", "import annotation tasks (prompt + K responses) into a database",
                                      run_import);
rlhf::cli::RegisterCommand reg_token("feedback token", "create an annotator/admin and print its API token", run_token);
rlhf::cli::RegisterCommand reg_export("feedback export", "write labels as reward-model training JSONL", run_export);
rlhf::cli::RegisterCommand reg_stats("feedback stats", "per-annotator quality and agreement statistics", run_stats);
rlhf::cli::RegisterCommand reg_simulate("feedback simulate", "simulated annotators label through a running server",
                                        run_simulate);

}  // namespace
