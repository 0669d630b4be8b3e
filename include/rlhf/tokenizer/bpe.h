// Byte-level BPE (GPT-2 style): the GPT-2 pre-tokenizer split, byte -> printable-char mapping,
// merges applied by rank within each pre-token (cached per distinct word), and added/special
// tokens. Loaded from tokenizer.json or GPT-2's encoder.json + vocab.bpe, or trained (bpe_train.h).
#pragma once
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf {

// A token matched in the text before BPE ("<|endoftext|>"). Special ones are recognised only with
// encode(..., allow_special=true) and dropped by decode(..., skip_special=true); non-special added
// tokens are always recognised (Hugging Face's behaviour).
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = true;
};

// Which tokens play the BOS/EOS/PAD roles, by their text ("" = none). Written to
// tokenizer_config.json on save.
struct SpecialTokenNames {
  std::string bos;
  std::string eos;
  std::string pad;
};

class BpeTokenizer : public Tokenizer {
 public:
  // vocab[id] is the token in byte-level form (GPT-2's printable mapping of its bytes; added
  // tokens may appear here with their raw text); merges are pairs of vocab strings in priority
  // order. Every one of the 256 single-byte tokens must be in the vocabulary and every merge's
  // parts and result too; violations throw rlhf::Error prefixed with `source` (the file).
  BpeTokenizer(std::vector<std::string> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
               std::vector<AddedToken> added, SpecialTokenNames names, const std::string& source);

  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.size()); }
  int32_t bos_id() const override { return bos_; }
  int32_t eos_id() const override { return eos_; }
  int32_t pad_id() const override { return pad_; }
  std::optional<int32_t> token_to_id(const std::string& token) const override;
  std::string id_to_token(int32_t id) const override;
  bool add_bos_by_default() const override { return false; }
  // Writes DIR/tokenizer.json (Hugging Face schema: BPE model with "a b" merges, ByteLevel
  // pre-tokenizer and decoder, added_tokens) and DIR/tokenizer_config.json (bos/eos/pad token strings; other keys
  // already in an existing tokenizer_config.json, such as chat_template, are kept).
  void save(const std::string& dir) const override;
  std::string kind() const override { return "bpe"; }

  // The Hugging Face tokenizer.json document save() writes.
  nlohmann::json to_hf_json() const;
  const std::vector<std::string>& vocab() const { return vocab_; }
  const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merge_list_; }
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  const SpecialTokenNames& special_names() const { return names_; }

  // Encodes one pre-token (no splitting, no added tokens), appending ids.
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;

 private:
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> token_ids_;
  std::vector<std::pair<int32_t, int32_t>> merge_list_;
  // (left id << 32 | right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  int32_t byte_ids_[256];
  std::vector<AddedToken> added_;
  std::vector<char> is_special_;  // per id
  std::vector<char> is_added_;    // per id: decoded as raw text, not byte-level
  SpecialTokenNames names_;
  int32_t bos_ = -1, eos_ = -1, pad_ = -1;
  // Per-word cache of BPE results; guarded because encode is const and may run on many threads.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

// Splits `text` at occurrences of the given added tokens (longest match at each position) and
// calls plain(segment) for text between them and token(id) for each match. Shared by all
// tokenizer kinds.
void split_added_tokens(std::string_view text, const std::vector<const AddedToken*>& tokens,
                        const std::function<void(std::string_view)>& plain,
                        const std::function<void(int32_t)>& token);

}  // namespace rlhf
