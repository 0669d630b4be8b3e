// Reads a SentencePiece model file (the ModelProto protobuf) by hand: pieces, trainer and
// normalizer settings. Lets BPE models run on our own encoder without libsentencepiece.
#pragma once
#include <string>

#include "rlhf/tokenizer/sentencepiece.h"

namespace rlhf::tokenizer {

struct SpmModelInfo {
  PieceTable table;                    // pieces, scores, types, special ids, normalizer flags
  int model_type = 1;                  // 1 unigram, 2 BPE, 3 word, 4 char
  std::string normalizer_name;         // "identity", "nmt_nfkc", ...
  bool has_charsmap = false;           // a precompiled normalisation map we cannot apply ourselves
};

// Throws rlhf::Error naming `source` when the bytes are not a SentencePiece model.
SpmModelInfo parse_spm_model(const std::string& bytes, const std::string& source);

}  // namespace rlhf::tokenizer
