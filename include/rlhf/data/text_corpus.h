// Pretraining data: a text corpus (one file, or every regular file of a folder in name order)
// split into documents at the tokenizer's end-of-text token text, tokenized, and packed into one
// token stream (documents joined by EOS) that is cut into fixed-length training sequences.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/data/lm_batch.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::data {

// Documents of a file or folder: each file is split at `separator` (e.g. "<|endoftext|>");
// documents that are empty after trimming whitespace are dropped (and counted in *empty when
// given). Throws naming the path when it is missing or holds no document at all.
std::vector<std::string> read_text_documents(const std::string& path, const std::string& separator,
                                             int64_t* empty = nullptr);

// Tokenizes each document and joins them with eos_id after each document: (N) int64.
torch::Tensor pack_documents(const std::vector<std::string>& docs, const Tokenizer& tok, int threads = 0);

// Fixed-length causal-LM sequences over a packed stream: sequence i is stream[i*T .. i*T + T]
// (T+1 tokens: T inputs, T shifted labels). Attention crosses document boundaries, as in GPT-2
// pretraining; the EOS between documents teaches where one ends.
class PackedSequences {
 public:
  PackedSequences(torch::Tensor stream, int64_t seq_len);
  int64_t size() const { return n_; }
  int64_t seq_len() const { return T_; }
  // Rows `idx` as a batch (no padding; every label is a target).
  LmBatch batch(const std::vector<int64_t>& idx) const;
  // Splits off the last `fraction` of the sequences (at least one when fraction > 0) as a
  // validation set: returns {train, val}.
  static std::pair<PackedSequences, PackedSequences> split(torch::Tensor stream, int64_t seq_len, double fraction);

 private:
  torch::Tensor stream_;
  int64_t T_, n_;
};

}  // namespace rlhf::data
