// The batch every causal-LM loss consumes (pretraining, SFT, and later the policy's log-probs):
// inputs, the attention mask, and next-token labels already shifted, with -100 where no loss is taken.
// Shapes: B = rows, T = positions.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace rlhf::data {

constexpr int64_t kIgnoreIndex = -100;  // label value for positions without loss

struct LmBatch {
  torch::Tensor input_ids;       // (B, T) int64
  torch::Tensor attention_mask;  // (B, T) int64, 1 = real token, 0 = padding
  torch::Tensor labels;          // (B, T) int64, labels[b, t] = token at t+1 or kIgnoreIndex
  // Packed rows only (undefined otherwise): per-position position within its own example, and
  // the example's index in the row (padding: -1), for the block-diagonal causal mask.
  torch::Tensor position_ids;    // (B, T) int64
  torch::Tensor segment_ids;     // (B, T) int64
  int64_t tokens() const;        // real input tokens (sum of the mask)
  int64_t loss_tokens() const;   // positions with a label
};

// One tokenized sequence before batching: ids (L) and per-id loss flags (L): train[i] says whether
// ids[i] is a target (predicted from ids[0..i)); train[0] is ignored.
struct TokenizedExample {
  std::vector<int64_t> ids;
  std::vector<uint8_t> train;
};

// Right-pads examples to the longest (at most max_len ids each; longer ones must have been cut
// before) with pad_id: input_ids = ids[0..L-1), labels = ids[1..L) where train, else -100.
LmBatch collate_padded(const std::vector<const TokenizedExample*>& rows, int64_t pad_id);

// Packs examples into as few rows of at most max_len input positions as first-fit decreasing
// allows (deterministic for a given list), each example keeping its own positions (restarting at
// 0) and its own segment, so with the block-diagonal causal mask every example sees exactly what
// it would see alone. Rows are right-padded to the longest row. Labels as collate_padded.
LmBatch collate_packed(const std::vector<const TokenizedExample*>& examples, int64_t max_len, int64_t pad_id);

}  // namespace rlhf::data
