// Preference data for reward models (and DPO): pairs, K-way rankings with ties, the TRL/OpenRLHF
// {"prompt","chosen","rejected"} form, and Anthropic HH-RLHF's raw transcripts, all read into one
// PreferenceGroup record. Bad records are either errors naming FILE:LINE or counted skips.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/io/jsonl.h"

namespace rlhf::data {

// One prompt with K >= 2 responses and what the annotator said about them.
// level[i] is the rank level of responses[i]: 0 = best, larger = worse, equal levels = a tie.
// A pair is K = 2 with levels {0, 1} (chosen first) or {0, 0} (a tie).
struct PreferenceGroup {
  std::string prompt;                  // dialogue prefix ending in "\n\nAssistant:"
  std::vector<std::string> responses;  // each with its leading space
  std::vector<int> level;              // one per response, 0 = best
  double margin = 0.0;                 // record's "margin" (or "strength"), 0 when absent
  std::string annotator;               // record's "annotator", "" when absent
  std::vector<double> gold;            // gold score per response when the record has them, else empty
  std::string where;                   // "FILE:LINE" it came from
  std::string format;                  // "pair", "ranking" or "hh"

  bool has_strict_pair() const;  // at least two responses on different levels
};

// Which record layouts a reader accepts; `auto` decides per record from its fields.
//   pair:    {"prompt", "chosen", "rejected"} (+ "margin" | "strength", "annotator", "tie": true, gold)
//   ranking: {"prompt", "responses": [...], "ranking": [...]}; ranking lists indices best first, and an
//            inner list groups tied responses: [2, [0, 3], 1]
//   hh:      {"chosen": transcript, "rejected": transcript} (Anthropic HH-RLHF)
// Gold scores: "gold": [one per response] (pair: [chosen, rejected]), "gold": {"chosen", "rejected"},
// or "gold_chosen" / "gold_rejected".

// Records skipped for content problems, by reason, with the first place each happened.
struct SkipReport {
  std::map<std::string, int64_t> count;       // reason -> records skipped
  std::map<std::string, std::string> first;   // reason -> first "FILE:LINE"
  int64_t total() const;
  void add(const std::string& reason, const std::string& where);
  void merge(const SkipReport& other);
  // "skipped 3 records: 2 empty response (first at a.jsonl:4), 1 chosen == rejected (first at a.jsonl:9)";
  // "" when nothing was skipped.
  std::string summary() const;
};

struct PreferenceReadOptions {
  // true: a content problem (chosen == rejected, an empty response, HH transcripts whose prefixes
  // differ or that do not end in an assistant turn) is an error naming FILE:LINE.
  // false (default): such records are skipped and counted in the SkipReport.
  // Structural problems (malformed JSON, unknown layout, missing fields, a ranking that is not a
  // permutation) are always errors.
  bool strict = false;
};

struct PreferenceSet {
  std::vector<PreferenceGroup> groups;
  SkipReport skipped;
};

// Splits one HH-RLHF transcript at its final "\n\nAssistant:" into (prompt ending in
// "\n\nAssistant:", response with its leading space). Throws rlhf::Error when there is no assistant
// turn or when a "\n\nHuman:" turn follows the last one.
std::pair<std::string, std::string> split_hh_transcript(const std::string& transcript);

struct HhPair {
  std::string prompt, chosen, rejected;
};
// Splits both transcripts of an HH-RLHF record; throws rlhf::Error when either cannot be split or
// when their dialogue prefixes differ (naming the character where they part).
HhPair split_hh_pair(const std::string& chosen, const std::string& rejected);

// Parses one record. Returns true and fills `out` for a usable record; returns false with
// `skip_reason` set for a content problem (never when opts.strict: then it throws). Throws
// rlhf::Error naming `where` for structural problems.
bool parse_preference_record(const io::json& record, const io::Where& where, const PreferenceReadOptions& opts,
                             PreferenceGroup& out, std::string& skip_reason);

// Reads a JSONL file of any of the layouts above (mixed freely).
PreferenceSet read_preferences(const std::string& path, const PreferenceReadOptions& opts = {});
// Reads several files into one set (skips merged).
PreferenceSet read_preferences(const std::vector<std::string>& paths, const PreferenceReadOptions& opts = {});

// Writes groups as project JSONL: pairs as {"prompt","chosen","rejected"[,"tie","margin","annotator","gold"]},
// larger groups as rankings (ties as inner lists). Atomic.
void write_preferences(const std::string& path, const std::vector<PreferenceGroup>& groups);
io::json preference_to_json(const PreferenceGroup& g);

}  // namespace rlhf::data
