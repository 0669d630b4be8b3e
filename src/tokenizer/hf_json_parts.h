// Pieces of the tokenizer.json reader shared by the byte-level and SentencePiece-style loaders.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/bpe.h"
#include "rlhf/tokenizer/sentencepiece.h"

namespace rlhf {

// Parses PATH and checks it has an object "model"; errors name the file.
io::json read_hf_json(const std::string& path);
// added_tokens -> AddedToken list (errors name added_tokens[i]).
std::vector<AddedToken> read_added(const io::json& j, const std::string& where);
// model.vocab {token: id} -> tokens by id (contiguous ids; added tokens may extend it).
std::vector<std::string> vocab_from_object(const io::json& v, const std::vector<AddedToken>& added,
                                           const std::string& where);
// model.merges in "a b" or [a, b] form.
std::vector<std::pair<std::string, std::string>> read_merges(const io::json& model, const std::string& path);
// bos/eos/pad from the tokenizer_config.json in the same folder as PATH (empty when absent).
SpecialTokenNames config_beside(const std::string& path);

std::shared_ptr<BpeTokenizer> bpe_from_hf_json(const io::json& j, const std::string& path);
// Llama-style tokenizer.json: BPE with byte_fallback, "▁" for spaces (Prepend/Replace
// normalizers or a Metaspace pre-tokenizer).
bool is_spm_style_json(const io::json& j);
std::shared_ptr<SpmBpeTokenizer> spm_from_hf_json(const io::json& j, const std::string& path);

}  // namespace rlhf
