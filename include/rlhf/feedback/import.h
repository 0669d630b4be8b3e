// Reading annotation tasks from JSONL: `{"prompt", "responses": [...]}` (what `rlhf generate`
// writes), or `{"prompt", "chosen", "rejected"}` pairs to relabel, with an optional priority,
// id, per-task overlap and gold answer.
#pragma once
#include <string>
#include <vector>

#include "rlhf/feedback/types.h"
#include "rlhf/io/jsonl.h"

namespace rlhf::feedback {

struct ImportOptions {
  std::string priority_field = "priority";  // numeric field giving the priority (e.g. "disagreement"
                                            // from `rlhf rm score --ensemble`); absent -> 0
  int overlap = 1;          // annotators per task unless the record has "overlap"
  bool gold_from_scores = false;  // "gold": [score per response] marks a gold task (higher is better)
};

// One record -> a task. Throws rlhf::Error naming WHERE and the field.
// Gold answer (makes it a gold task): "gold_answer": {"chosen": i, "rejected": j} (K = 2 or the two
// compared), {"ranking": [best, [tied, ...], ...]}, or with gold_from_scores, "gold": [scores].
TaskInput parse_task_record(const io::json& r, const io::Where& where, const ImportOptions& opts);

// Reads a task file. Records with a single "response" (what `rlhf generate --prompts` writes; run
// it K times with different seeds and concatenate) are grouped by prompt, in order of first
// appearance, into one task per prompt with its distinct responses; a prompt left with fewer
// than 2 distinct responses is skipped and counted in `*skipped`.
std::vector<TaskInput> read_tasks(const std::string& path, const ImportOptions& opts, size_t* skipped = nullptr);

}  // namespace rlhf::feedback
