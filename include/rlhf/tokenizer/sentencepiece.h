// SentencePiece-style vocabularies (Llama convention: "▁" for spaces, a dummy-prefix space,
// byte-fallback pieces <0xNN>, <s>/</s> control tokens). Two encoders share one piece table and
// one decoder: libsentencepiece for a tokenizer.model file, and our own score-driven BPE for the
// vocabulary embedded in a GGUF file (tokenizer.ggml.model "llama").
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rlhf/tokenizer/bpe.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf {

// SentencePiece piece types (as in its model proto and GGUF's tokenizer.ggml.token_type).
enum class PieceType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

struct PieceTable {
  std::vector<std::string> pieces;  // id -> piece text ("▁the", "<0x0A>", "<s>")
  std::vector<float> scores;        // id -> score (higher merges first)
  std::vector<PieceType> types;     // id -> type
  int32_t bos = -1, eos = -1, pad = -1, unk = -1;
  bool add_dummy_prefix = true;     // prepend "▁" to the text before encoding
  // Strip leading/trailing spaces and collapse runs of spaces before encoding (SentencePiece's
  // normalizer option; off for GGUF vocabularies, as in llama.cpp).
  bool remove_extra_whitespaces = false;
};

// The shared part: piece lookup, special ids and the decoder.
class SpmTokenizerBase : public Tokenizer {
 public:
  explicit SpmTokenizerBase(PieceTable table);
  // Pieces -> text: "▁" -> ' ', <0xNN> -> the byte, control tokens -> their text unless
  // skip_special; the dummy-prefix space of the first piece is removed.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(table_.pieces.size()); }
  int32_t bos_id() const override { return table_.bos; }
  int32_t eos_id() const override { return table_.eos; }
  int32_t pad_id() const override { return table_.pad; }
  std::optional<int32_t> token_to_id(const std::string& token) const override;
  std::string id_to_token(int32_t id) const override;
  bool add_bos_by_default() const override { return true; }
  std::string kind() const override { return "sentencepiece"; }
  const PieceTable& table() const { return table_; }

 protected:
  // Splits on control/user-defined pieces when allowed, encoding the rest with encode_plain.
  std::vector<int32_t> encode_with_specials(std::string_view text, bool allow_special) const;
  virtual void encode_plain(std::string_view text, std::vector<int32_t>& out) const = 0;
  SpecialTokenNames names() const;

  PieceTable table_;
  // Keys view the strings in table_.pieces, which never change after construction.
  std::unordered_map<std::string_view, int32_t> piece_ids_;
  std::vector<AddedToken> specials_;  // control pieces matched in text with allow_special
};

// A tokenizer.model through libsentencepiece, for models our own encoder does not cover (unigram,
// or a precompiled normalisation map); BPE models load as SpmBpeTokenizer. save() copies the
// model file and writes tokenizer_config.json. libsentencepiece is not linked into the program:
// it is reached through a small shim library (librlhf_spm_shim.so) loaded on first use with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND), so the protobuf copy inside libsentencepiece and libtorch's
// libprotobuf never see each other. The shim is looked for in $RLHF_SPM_SHIM, next to the
// executable, then in the build folder; a missing shim is an rlhf::Error naming the paths tried.
class SentencePieceTokenizer : public SpmTokenizerBase {
 public:
  // Parses the serialized model; throws rlhf::Error naming `source` when it is not a model.
  SentencePieceTokenizer(std::string serialized_model, const std::string& source);
  ~SentencePieceTokenizer() override;
  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const override;
  void save(const std::string& dir) const override;
  struct Handle;  // a model loaded in libsentencepiece (opaque)

 private:
  SentencePieceTokenizer(std::shared_ptr<Handle> handle, std::string&& serialized_model);
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const override;
  static PieceTable table_from(const Handle& h);
  std::string model_;
  std::shared_ptr<Handle> sp_;
};

// Path of the libsentencepiece shim that SentencePieceTokenizer loads (throws rlhf::Error naming
// every place tried when it cannot be loaded).
std::string sentencepiece_shim_path();

// Our own SentencePiece-BPE encoder from piece scores (as llama.cpp does for GGUF vocabularies):
// text -> "▁"-escaped with the dummy prefix -> UTF-8 characters -> repeatedly merge the adjacent
// pair whose concatenation is a piece with the highest score (leftmost on ties) -> pieces not in
// the vocabulary fall back to <0xNN> byte pieces. save() writes a tokenizer.model (SentencePiece
// model proto, BPE, byte fallback) that libsentencepiece loads back.
class SpmBpeTokenizer : public SpmTokenizerBase {
 public:
  // `model_file`: the tokenizer.model bytes this vocabulary was read from, if any; save() then
  // copies them unchanged instead of writing a model proto of its own.
  SpmBpeTokenizer(PieceTable table, const std::string& source, std::string model_file = "");
  std::vector<int32_t> encode(std::string_view text, bool allow_special = false) const override;
  void save(const std::string& dir) const override;
  // The SentencePiece model proto (serialized) equivalent to this vocabulary.
  std::string to_model_proto() const;

 private:
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const override;
  int32_t byte_ids_[256];
  std::string model_file_;
};

// Deletes DIR/tokenizer.json if present: SentencePiece saves write tokenizer.model, which an old
// tokenizer.json would otherwise shadow in load_tokenizer.
void remove_stale_tokenizer_json(const std::string& dir);

}  // namespace rlhf
