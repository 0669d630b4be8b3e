// SentencePiece tokenizer.model through libsentencepiece (encoding); decoding and specials come
// from the shared piece table.
#include <sentencepiece_processor.h>

#include <filesystem>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/tokenizer/formats.h"
#include "rlhf/tokenizer/sentencepiece.h"
#include "tokenizer/spm_model_proto.h"

namespace rlhf {

void remove_stale_tokenizer_json(const std::string& dir) {
  // load_tokenizer prefers tokenizer.json: one left by an earlier save would shadow tokenizer.model.
  std::error_code ec;
  std::filesystem::remove(io::join_path(dir, "tokenizer.json"), ec);
}

PieceTable SentencePieceTokenizer::table_from(const sentencepiece::SentencePieceProcessor& sp) {
  PieceTable t;
  int n = sp.GetPieceSize();
  for (int id = 0; id < n; ++id) {
    t.pieces.push_back(sp.IdToPiece(id));
    t.scores.push_back(sp.GetScore(id));
    PieceType type = PieceType::Normal;
    if (sp.IsControl(id)) type = PieceType::Control;
    else if (sp.IsUnknown(id)) type = PieceType::Unknown;
    else if (sp.IsUnused(id)) type = PieceType::Unused;
    else if (sp.IsByte(id)) type = PieceType::Byte;
    t.types.push_back(type);
  }
  t.bos = sp.bos_id();
  t.eos = sp.eos_id();
  t.pad = sp.pad_id();
  t.unk = sp.unk_id();
  return t;
}

static std::unique_ptr<sentencepiece::SentencePieceProcessor> parse_model(const std::string& model,
                                                                         const std::string& source) {
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  try {
    status = sp->LoadFromSerializedProto(model);
  } catch (const std::exception& e) {  // protobuf's FatalException (runtime version mismatch)
    throw Error(source + ": libsentencepiece cannot load it in this process (" + e.what() + ")");
  }
  if (!status.ok()) throw Error(source + ": not a valid SentencePiece model (" + status.ToString() + ")");
  return sp;
}

SentencePieceTokenizer::SentencePieceTokenizer(std::string serialized_model, const std::string& source)
    : SpmTokenizerBase(table_from(*parse_model(serialized_model, source))), model_(std::move(serialized_model)) {
  sp_ = parse_model(model_, source);
  // The model proto's normalizer spec is not exposed: a dummy prefix shows as a leading "▁".
  std::vector<std::string> pieces;
  sp_->Encode("x", &pieces).IgnoreError();
  table_.add_dummy_prefix = !pieces.empty() && pieces[0].rfind("\xe2\x96\x81", 0) == 0;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int> ids;
  auto status = sp_->Encode(text, &ids);
  if (!status.ok()) throw Error("SentencePiece encode failed: " + status.ToString());
  out.insert(out.end(), ids.begin(), ids.end());
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool allow_special) const {
  return encode_with_specials(text, allow_special);
}

void SentencePieceTokenizer::save(const std::string& dir) const {
  io::make_dirs(dir);
  remove_stale_tokenizer_json(dir);
  io::write_file_atomic(io::join_path(dir, "tokenizer.model"), model_);
  write_tokenizer_config(dir, names(), true, "LlamaTokenizer");
}

std::shared_ptr<Tokenizer> load_sentencepiece_model(const std::string& path) {
  std::string bytes = io::read_file(path);
  tokenizer::SpmModelInfo info = tokenizer::parse_spm_model(bytes, path);
  // BPE models with identity normalisation (Llama's, llama2.c's) run on our own encoder, which
  // needs no protobuf runtime; the rest goes to libsentencepiece.
  if (info.model_type == 2 && !info.has_charsmap)
    return std::make_shared<SpmBpeTokenizer>(std::move(info.table), path, std::move(bytes));
  return std::make_shared<SentencePieceTokenizer>(std::move(bytes), path);
}

}  // namespace rlhf
