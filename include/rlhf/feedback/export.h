// Export of the store as the JSONL that `rlhf rm train` reads (docs/FORMATS.md): one record per
// label, or labels aggregated per compared pair (majority vote, or Bradley-Terry over annotators),
// optionally without annotators whose agreement with the majority is low; and deployment ratings.
#pragma once
#include <ostream>
#include <string>

#include "rlhf/feedback/types.h"

namespace rlhf::feedback {

struct ExportOptions {
  std::string what = "labels";     // labels | ratings
  std::string aggregate = "none";  // none (every label) | majority | bradley_terry
  double min_agreement = -1;       // drop annotators whose agreement with the majority is below this
  int64_t min_agreement_items = 5; //   measured on at least this many items (fewer: kept)
  double min_gold_accuracy = -1;   // drop annotators whose gold accuracy (>= min_agreement_items items) is below
  bool weight_by_agreement = false;  // aggregate: weight each annotator's vote by their agreement
  bool include_gold = true;        // labels on gold tasks
  bool include_duplicates = false; // labels on swapped duplicates (repeat labels; off: no double counting)
  bool drop_both_bad = false;      // leave out both_bad answers (they carry no preference)
  void validate() const;           // throws rlhf::Error naming the option
};

struct ExportReport {
  int64_t records = 0;
  int64_t labels_used = 0;
  std::vector<std::string> dropped_annotators;
  int64_t contested = 0;  // majority: items without a unique plurality, left out
};

ExportReport export_jsonl(const Snapshot& s, const ExportOptions& opts, std::ostream& out);

}  // namespace rlhf::feedback
