// The tokenizer interface every model, dataset and command uses, whatever the format behind it
// (byte-level BPE from tokenizer.json or GPT-2's encoder.json + vocab.bpe, SentencePiece
// tokenizer.model, the vocabulary inside a GGUF file).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rlhf {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text -> ids. With allow_special, special/added tokens written in the text ("<|endoftext|>")
  // become their ids; without it they are encoded as plain text. Never adds BOS/EOS by itself.
  virtual std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const = 0;
  // Ids -> text. Exact inverse of encode for byte-level BPE (any bytes, even invalid UTF-8).
  // With skip_special, special tokens (BOS/EOS/pad/added specials) are dropped from the text.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const = 0;
  virtual int32_t vocab_size() const = 0;

  // Special ids, -1 where the vocabulary has none. For GPT-2-style BPE, eos = <|endoftext|>.
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual int32_t pad_id() const = 0;  // -1 when none: callers then pad with eos
  // The id of a token given by its exact text (special or regular), if it exists.
  virtual std::optional<int32_t> token_to_id(const std::string& token) const = 0;
  virtual std::string id_to_token(int32_t id) const = 0;

  // Whether prompts for this vocabulary conventionally start with BOS (SentencePiece/Llama: yes;
  // GPT-2 BPE: no).
  virtual bool add_bos_by_default() const = 0;

  // Writes the tokenizer into checkpoint folder `dir` in Hugging Face form (tokenizer.json, plus
  // tokenizer.model for SentencePiece), atomically per file.
  virtual void save(const std::string& dir) const = 0;
  // "bpe", "sentencepiece", ...
  virtual std::string kind() const = 0;
};

// Loads a tokenizer from: a checkpoint folder (tokenizer.json or tokenizer.model inside), a
// tokenizer.json file, a folder with encoder.json + vocab.bpe, a SentencePiece .model file, or a
// .gguf file (its embedded vocabulary). Errors name the path and what is wrong with it.
std::shared_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace rlhf
