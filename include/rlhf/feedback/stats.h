// Quality statistics over the store: per annotator (agreement with the majority, accuracy on gold
// tasks, self-consistency on swapped duplicates, position bias, median seconds per label) and
// overall (counts, labels per annotator per hour, Cohen's kappa, Kendall's W, choice distribution).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "rlhf/feedback/types.h"

namespace rlhf::feedback {

struct AnnotatorStats {
  int64_t user_id = 0;
  std::string name;
  int64_t labels = 0;
  std::optional<double> agreement;  // share of their pair items that match the (leave-one-out)
  int64_t agreement_n = 0;          //   plurality of the other annotators on the same item
  std::optional<double> gold_accuracy;  // share of pair items on gold tasks matching the answer
  int64_t gold_n = 0;
  std::optional<double> self_consistency;  // share of duplicate items answered as the original
  int64_t duplicate_n = 0;
  std::optional<double> left_share;  // share of strict pair choices that picked the response shown first
  int64_t position_n = 0;
  std::optional<double> median_seconds;
};

// Stats for every user who has labels, ordered by user id.
std::vector<AnnotatorStats> annotator_stats(const Snapshot& s);
json annotator_stats_json(const AnnotatorStats& a);

// Everything the admin dashboard shows, as JSON (documented in docs/feedback.md).
json dashboard_stats(const Snapshot& s);

}  // namespace rlhf::feedback
