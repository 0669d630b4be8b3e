// Reward-model inputs: each (prompt, response) becomes the ids of prompt + response + EOS (the
// reward is read at that EOS), and groups of them are right-padded into one batch.
// Shapes: N = sequences in the batch (every response of every group), T = longest sequence.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/data/preference.h"
#include "rlhf/reward/losses.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::data {

// [BOS if the vocabulary wants it] + ids(prompt) + ids(response) + [EOS]. When longer than
// max_len, prompt tokens are dropped from the left (BOS kept) so the response and its EOS stay;
// a response that alone exceeds max_len keeps its last tokens. `truncated` is set when cut;
// `response_start` (optional) receives the position of the first response token (of the EOS when
// the response is empty).
std::vector<int64_t> encode_reward_input(const Tokenizer& tok, const std::string& prompt, const std::string& response,
                                         int64_t max_len, bool* truncated = nullptr, int64_t* response_start = nullptr);

// A PreferenceGroup after tokenization.
struct TokenizedGroup {
  std::vector<std::vector<int64_t>> seqs;  // one per response
  std::vector<int64_t> starts;             // position of each sequence's first response token
  std::vector<int> level;                  // as PreferenceGroup::level
  double margin = 0.0;                     // as PreferenceGroup::margin (unscaled)
};
// Tokenizes every group; `truncated` (optional) counts sequences that had to be cut.
std::vector<TokenizedGroup> tokenize_groups(const std::vector<PreferenceGroup>& groups, const Tokenizer& tok,
                                            int64_t max_len, int64_t* truncated = nullptr);

struct RewardBatch {
  torch::Tensor tokens;      // (N, T) int64, right-padded with the pad id
  torch::Tensor last_index;  // (N) int64, position of each row's last real token (its EOS)
  torch::Tensor response_start;  // (N) int64, position of each row's first response token (0 when unknown)
  std::vector<reward::GroupSpec> groups;  // where each group's rows sit, with margin * margin_scale
  int64_t real_tokens = 0;   // sum of row lengths
};

// Right-pads sequences into one batch. Right padding needs no attention mask: under the causal
// mask a real token never sees the padding after it.
// `starts` (optional, one per sequence) fills response_start.
RewardBatch collate_sequences(const std::vector<const std::vector<int64_t>*>& seqs, int64_t pad_id,
                              const std::vector<int64_t>* starts = nullptr);
// The groups (by index into `all`) as one batch, rows group after group.
RewardBatch collate_groups(const std::vector<TokenizedGroup>& all, const std::vector<int64_t>& pick, int64_t pad_id,
                           double margin_scale);

// The id used for padding: the tokenizer's pad, else EOS, else 0.
int64_t reward_pad_id(const Tokenizer& tok);

}  // namespace rlhf::data
