// SentencePiece-BPE encoding from piece scores (for GGUF "llama" vocabularies), and the
// SentencePiece model proto written for it by hand (protobuf wire format) so that save() produces
// a tokenizer.model that libsentencepiece loads.
#include <cstring>
#include <queue>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/tokenizer/formats.h"
#include "rlhf/tokenizer/sentencepiece.h"
#include "tokenizer/unicode.h"

namespace rlhf {
namespace {

const std::string kSpace = "\xe2\x96\x81";

std::string byte_piece(int b) {
  static const char* hex = "0123456789ABCDEF";
  return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

// Minimal protobuf writer: varints, length-delimited fields, 32-bit floats.
struct Proto {
  std::string buf;
  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    buf.push_back(static_cast<char>(v));
  }
  void tag(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | wire); }
  void int_field(int field, int64_t v) {
    tag(field, 0);
    varint(static_cast<uint64_t>(v));  // negative int32 -> 10-byte two's complement, as protobuf does
  }
  void bytes_field(int field, const std::string& s) {
    tag(field, 2);
    varint(s.size());
    buf += s;
  }
  void float_field(int field, float f) {
    tag(field, 5);
    char b[4];
    std::memcpy(b, &f, 4);
    buf.append(b, 4);
  }
};

}  // namespace

SpmBpeTokenizer::SpmBpeTokenizer(PieceTable table, const std::string& source, std::string model_file)
    : SpmTokenizerBase(std::move(table)), model_file_(std::move(model_file)) {
  size_t n = table_.pieces.size();
  if (table_.scores.size() != n || table_.types.size() != n)
    throw Error(source + ": " + std::to_string(n) + " tokens but " + std::to_string(table_.scores.size()) +
                " scores and " + std::to_string(table_.types.size()) + " token types");
  for (int b = 0; b < 256; ++b) {
    auto it = piece_ids_.find(byte_piece(b));
    byte_ids_[b] = it == piece_ids_.end() ? table_.unk : it->second;
  }
  for (int32_t id : {table_.bos, table_.eos, table_.pad, table_.unk})
    if (id >= static_cast<int32_t>(n))
      throw Error(source + ": special token id " + std::to_string(id) + " is outside the vocabulary (size " + std::to_string(n) + ")");
}

std::vector<int32_t> SpmBpeTokenizer::encode(std::string_view text, bool allow_special) const {
  return encode_with_specials(text, allow_special);
}

void SpmBpeTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  std::string collapsed;
  if (table_.remove_extra_whitespaces) {  // SentencePiece's normalizer: trim, single spaces
    for (char c : text)
      if (c != ' ' || (!collapsed.empty() && collapsed.back() != ' ')) collapsed += c;
    while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
    text = collapsed;
  }
  if (text.empty()) return;
  std::string s = table_.add_dummy_prefix ? kSpace : "";
  for (char c : text) {
    if (c == ' ') s += kSpace;
    else s += c;
  }
  // Symbols: UTF-8 characters (an invalid byte alone) as [start, len) in a linked list.
  std::vector<size_t> start, len;
  for (size_t pos = 0; pos < s.size();) {
    size_t l = tokenizer::utf8_len(s, pos);
    start.push_back(pos);
    len.push_back(l);
    pos += l;
  }
  const int n = static_cast<int>(start.size());
  std::vector<int> prev(n), next(n);
  for (int k = 0; k < n; ++k) {
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  struct Cand {
    float score;
    int left;
    size_t size;  // bytes of the merged piece, to detect stale entries
    bool operator<(const Cand& o) const { return score != o.score ? score < o.score : left > o.left; }
  };
  std::priority_queue<Cand> heap;
  auto try_pair = [&](int l) {
    if (l < 0 || next[l] < 0) return;
    int r = next[l];
    size_t size = len[l] + len[r];
    auto it = piece_ids_.find(std::string_view(s).substr(start[l], size));
    if (it == piece_ids_.end()) return;
    PieceType t = table_.types[it->second];
    if (t != PieceType::Normal && t != PieceType::UserDefined) return;
    heap.push({table_.scores[it->second], l, size});
  };
  for (int k = 0; k + 1 < n; ++k) try_pair(k);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int l = c.left;
    if (len[l] == 0 || next[l] < 0 || len[l] + len[next[l]] != c.size) continue;  // stale
    int r = next[l];
    len[l] += len[r];
    len[r] = 0;
    next[l] = next[r];
    if (next[r] >= 0) prev[next[r]] = l;
    try_pair(prev[l]);
    try_pair(l);
  }
  for (int k = 0; k >= 0; k = next[k]) {
    auto it = piece_ids_.find(std::string_view(s).substr(start[k], len[k]));
    if (it != piece_ids_.end() && table_.types[it->second] != PieceType::Unused) {
      out.push_back(it->second);
      continue;
    }
    for (size_t b = 0; b < len[k]; ++b) {  // byte fallback
      int32_t id = byte_ids_[static_cast<unsigned char>(s[start[k] + b])];
      if (id < 0) throw Error("encode: no byte piece and no <unk> for byte " + std::to_string(static_cast<unsigned char>(s[start[k] + b])));
      if (id == table_.unk && !out.empty() && out.back() == table_.unk) break;  // one <unk> per character
      out.push_back(id);
    }
  }
}

std::string SpmBpeTokenizer::to_model_proto() const {
  Proto model;
  for (size_t id = 0; id < table_.pieces.size(); ++id) {
    Proto p;
    p.bytes_field(1, table_.pieces[id]);
    p.float_field(2, table_.scores[id]);
    p.int_field(3, static_cast<int>(table_.types[id]));
    model.bytes_field(1, p.buf);
  }
  Proto trainer;
  trainer.int_field(3, 2);                  // model_type = BPE
  trainer.int_field(4, static_cast<int64_t>(table_.pieces.size()));  // vocab_size
  trainer.int_field(35, 1);                 // byte_fallback
  trainer.int_field(40, table_.unk);        // unk_id
  trainer.int_field(41, table_.bos);        // bos_id
  trainer.int_field(42, table_.eos);        // eos_id
  // SentencePiece rejects a pad id shared with another special (GGUF files often say pad = unk).
  bool own_pad = table_.pad >= 0 && table_.pad != table_.unk && table_.pad != table_.bos && table_.pad != table_.eos;
  trainer.int_field(43, own_pad ? table_.pad : -1);  // pad_id
  if (table_.unk >= 0) trainer.bytes_field(45, table_.pieces[table_.unk]);  // unk_piece
  if (table_.bos >= 0) trainer.bytes_field(46, table_.pieces[table_.bos]);  // bos_piece
  if (table_.eos >= 0) trainer.bytes_field(47, table_.pieces[table_.eos]);  // eos_piece
  if (own_pad) trainer.bytes_field(48, table_.pieces[table_.pad]);  // pad_piece
  model.bytes_field(2, trainer.buf);
  Proto norm;
  norm.bytes_field(1, "identity");
  norm.int_field(3, table_.add_dummy_prefix ? 1 : 0);  // add_dummy_prefix
  norm.int_field(4, table_.remove_extra_whitespaces ? 1 : 0);
  norm.int_field(5, 1);                                 // escape_whitespaces
  model.bytes_field(3, norm.buf);
  return model.buf;
}

void SpmBpeTokenizer::save(const std::string& dir) const {
  io::make_dirs(dir);
  remove_stale_tokenizer_json(dir);
  io::write_file_atomic(io::join_path(dir, "tokenizer.model"), model_file_.empty() ? to_model_proto() : model_file_);
  write_tokenizer_config(dir, names(), true, "LlamaTokenizer");
}

}  // namespace rlhf
