// The piece table shared by SentencePiece-style tokenizers: lookup, special tokens, decoding.
#include "rlhf/io/error.h"
#include "rlhf/tokenizer/sentencepiece.h"

namespace rlhf {
namespace {

const std::string kSpace = "\xe2\x96\x81";  // U+2581 "▁", SentencePiece's escaped space

// "<0x0A>" -> 10, or -1 when `piece` is not a byte piece.
int byte_piece_value(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    char c = piece[k];
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

}  // namespace

SpmTokenizerBase::SpmTokenizerBase(PieceTable table) : table_(std::move(table)) {
  piece_ids_.reserve(table_.pieces.size() * 2);
  for (size_t id = 0; id < table_.pieces.size(); ++id) {
    piece_ids_.emplace(std::string_view(table_.pieces[id]), static_cast<int32_t>(id));  // the first of duplicates wins
    PieceType t = table_.types[id];
    if (t == PieceType::Control || t == PieceType::UserDefined)
      specials_.push_back({static_cast<int32_t>(id), table_.pieces[id], t == PieceType::Control});
  }
}

std::optional<int32_t> SpmTokenizerBase::token_to_id(const std::string& token) const {
  auto it = piece_ids_.find(token);
  if (it == piece_ids_.end()) return std::nullopt;
  return it->second;
}

std::string SpmTokenizerBase::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " + std::to_string(vocab_size()) + ")");
  return table_.pieces[id];
}

SpecialTokenNames SpmTokenizerBase::names() const {
  auto name = [&](int32_t id) { return id >= 0 ? table_.pieces[id] : std::string(); };
  return {name(table_.bos), name(table_.eos), name(table_.pad)};
}

std::vector<int32_t> SpmTokenizerBase::encode_with_specials(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  std::vector<const AddedToken*> active;
  for (const auto& s : specials_)
    if (allow_special || !s.special) active.push_back(&s);
  split_added_tokens(
      text, active, [&](std::string_view s) { encode_plain(s, out); }, [&](int32_t id) { out.push_back(id); });
  return out;
}

std::string SpmTokenizerBase::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  bool at_start = true;  // the dummy-prefix space of the first text piece is dropped
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("decode: token id " + std::to_string(id) + " is outside the vocabulary (size " +
                  std::to_string(vocab_size()) + ")");
    const std::string& p = table_.pieces[id];
    PieceType t = table_.types[id];
    if (t == PieceType::Control || t == PieceType::Unknown || t == PieceType::Unused) {
      if (!skip_special) out += p;
      continue;
    }
    if (t == PieceType::Byte) {
      int b = byte_piece_value(p);
      if (b >= 0) {
        out.push_back(static_cast<char>(b));
        at_start = false;
        continue;
      }
    }
    size_t pos = 0;
    if (at_start && table_.add_dummy_prefix && p.compare(0, kSpace.size(), kSpace) == 0) pos = kSpace.size();
    at_start = false;
    while (pos < p.size()) {
      if (p.compare(pos, kSpace.size(), kSpace) == 0) {
        out += ' ';
        pos += kSpace.size();
      } else {
        out += p[pos++];
      }
    }
  }
  return out;
}

}  // namespace rlhf
