// Supervised fine-tuning data: JSONL of {"prompt", "response"} or {"messages": [...]} (rendered
// by the checkpoint's chat template), tokenized segment by segment so that the loss falls only on
// response (assistant) tokens and the EOS that ends the response.
// Bad input: malformed JSON or a missing field -> error naming FILE:LINE; an empty dataset ->
// error; a prompt longer than the context, an empty response, or a response that is empty after
// truncation -> a counted, reported skip.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/data/chat_template.h"
#include "rlhf/data/lm_batch.h"
#include "rlhf/data/preference.h"  // SkipReport
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::data {

struct SftRecord {
  std::vector<TextSegment> segments;  // prompt / turn prefixes untrained, responses trained
  std::string where;                  // "FILE:LINE"
};

// Reads a JSONL file of either layout (mixed freely). Throws naming FILE:LINE for malformed JSON,
// a record with neither layout, or a field of the wrong type; an empty file is an error.
// A record whose response is empty is skipped and counted in `skips` (when given).
std::vector<SftRecord> read_sft_jsonl(const std::string& path, const ChatTemplate& tpl, SkipReport* skips = nullptr);
SftRecord sft_record(const std::string& prompt, const std::string& response, const std::string& where = "");

struct SftDataset {
  std::vector<TokenizedExample> examples;  // each: ids ending in EOS, at most max_seq + 1 ids
  SkipReport skipped;
  int64_t truncated = 0;  // examples whose response was cut to fit the context (kept)
};

// Tokenizes records: each segment encoded on its own (so the prompt's ids match what generation
// sees), then EOS (trained). Examples are cut to max_seq + 1 ids (max_seq inputs + one shifted
// label). Skips (counted by reason): the prompt alone fills the context; nothing to train on
// after truncation. Throws when nothing is left.
SftDataset tokenize_sft(const std::vector<SftRecord>& records, const Tokenizer& tok, int64_t max_seq,
                        const std::string& source);

}  // namespace rlhf::data
