// Loaders for each tokenizer file format; load_tokenizer() (tokenizer.h) picks one by content.
// All throw rlhf::Error naming the file and the field at fault.
#pragma once
#include <memory>
#include <string>

#include "rlhf/tokenizer/bpe.h"

namespace rlhf {

// Hugging Face tokenizer.json with a byte-level BPE model (merges as "a b" strings or [a, b]
// arrays). Special-token roles come from tokenizer_config.json beside it when present
// (bos_token/eos_token/pad_token, as strings or {"content": ...}); otherwise eos = <|endoftext|>.
std::shared_ptr<BpeTokenizer> load_hf_tokenizer_json(const std::string& path);

// Any supported tokenizer.json: byte-level BPE as above, or Llama-style SentencePiece BPE
// (model.byte_fallback, "▁" for spaces via Prepend/Replace normalizers or a Metaspace
// pre-tokenizer), which becomes an SpmBpeTokenizer whose piece scores follow the merge ranks.
std::shared_ptr<Tokenizer> load_tokenizer_json(const std::string& path);

// OpenAI's original GPT-2 files: DIR/encoder.json (token -> id) and DIR/vocab.bpe (merges).
// <|endoftext|> is the special token (bos = eos = <|endoftext|>, as in Hugging Face's gpt2).
std::shared_ptr<BpeTokenizer> load_gpt2_files(const std::string& dir);

// A SentencePiece model file (tokenizer.model) through libsentencepiece.
std::shared_ptr<Tokenizer> load_sentencepiece_model(const std::string& path);

// The vocabulary embedded in a GGUF file: tokenizer.ggml.model "llama" (SentencePiece-style BPE
// from tokens + scores, with byte fallback) or "gpt2" (byte-level BPE from tokens + merges).
std::shared_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);

// Reads bos/eos/pad token strings from a tokenizer_config.json (absent keys -> "").
SpecialTokenNames read_tokenizer_config(const std::string& path);
// Writes DIR/tokenizer_config.json with the given roles, keeping other keys of an existing file.
void write_tokenizer_config(const std::string& dir, const SpecialTokenNames& names, bool add_bos,
                            const std::string& tokenizer_class);

}  // namespace rlhf
