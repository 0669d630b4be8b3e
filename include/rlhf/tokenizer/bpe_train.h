// Training a byte-level BPE vocabulary on a corpus (what `rlhf pretrain` uses when no tokenizer
// is given). Deterministic: the same texts and config always give the same vocabulary.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rlhf/tokenizer/bpe.h"

namespace rlhf {

struct BpeTrainConfig {
  // Final vocabulary size, counting the 256 byte tokens, the learned merges and the special
  // tokens. Training stops earlier when no pair occurs min_pair_count times any more.
  int vocab_size = 4096;
  // Added special tokens, appended after the learned tokens in this order. Their text inside the
  // corpus is cut out before counting (they never become merges). Roles: "<|endoftext|>" or
  // "</s>" -> eos (and bos, GPT-2 convention, unless "<s>"/"<|bos|>" is given), "<|pad|>"/"<pad>" -> pad.
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  // A pair seen fewer times than this over the corpus is never merged (1 = merge until the size).
  int min_pair_count = 2;
};

// Learns merges over the GPT-2 pre-tokenized words of `texts` (each text is pre-tokenized on its
// own; words are counted once per distinct word, and pair counts are updated incrementally, so a
// few MB train in seconds). Ids: 0-255 the bytes (id b = byte b), then one id per learned token
// in merge order, then the special tokens. Ties between equally frequent pairs go to the pair of
// smaller ids. Throws rlhf::Error when vocab_size < 256 + number of special tokens.
std::shared_ptr<BpeTokenizer> train_bpe(const std::vector<std::string>& texts, const BpeTrainConfig& config);

// Shorthand with the default min_pair_count.
std::shared_ptr<BpeTokenizer> train_bpe(const std::vector<std::string>& texts, int vocab_size,
                                        std::vector<std::string> special_tokens = {"<|endoftext|>"});

}  // namespace rlhf
