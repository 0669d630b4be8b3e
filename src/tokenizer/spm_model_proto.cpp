// Hand-written protobuf wire-format reader for SentencePiece's ModelProto (field numbers from
// sentencepiece_model.proto: pieces = 1 {piece 1, score 2, type 3}, trainer_spec = 2
// {model_type 3, unk/bos/eos/pad_id 40-43}, normalizer_spec = 3 {name 1, precompiled_charsmap 2,
// add_dummy_prefix 3, remove_extra_whitespaces 4}).
#include "tokenizer/spm_model_proto.h"

#include <cstring>

#include "rlhf/io/error.h"

namespace rlhf::tokenizer {
namespace {

struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t value = 0;       // varint / fixed
  std::string_view bytes;   // length-delimited
};

class Reader {
 public:
  Reader(std::string_view data, const std::string& source) : d_(data), source_(source) {}
  bool done() const { return pos_ >= d_.size(); }
  Field next() {
    Field f;
    uint64_t key = varint();
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    switch (f.wire) {
      case 0: f.value = varint(); break;
      case 1: f.value = fixed(8); break;
      case 5: f.value = fixed(4); break;
      case 2: {
        uint64_t n = varint();
        if (n > d_.size() - pos_) fail("truncated length-delimited field " + std::to_string(f.number));
        f.bytes = d_.substr(pos_, n);
        pos_ += n;
        break;
      }
      default: fail("unsupported protobuf wire type " + std::to_string(f.wire));
    }
    return f;
  }
  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(source_ + ": not a valid SentencePiece model (" + msg + " at byte " + std::to_string(pos_) + ")");
  }

 private:
  uint64_t varint() {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size()) fail("truncated varint");
      uint8_t c = static_cast<uint8_t>(d_[pos_++]);
      r |= static_cast<uint64_t>(c & 0x7F) << shift;
      if (c < 0x80) return r;
    }
    fail("varint too long");
  }
  uint64_t fixed(size_t n) {
    if (n > d_.size() - pos_) fail("truncated fixed-size field");
    uint64_t v = 0;
    std::memcpy(&v, d_.data() + pos_, n);
    pos_ += n;
    return v;
  }
  std::string_view d_;
  size_t pos_ = 0;
  const std::string& source_;
};

float as_float(uint64_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

int32_t as_int32(uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

}  // namespace

SpmModelInfo parse_spm_model(const std::string& bytes, const std::string& source) {
  SpmModelInfo info;
  PieceTable& t = info.table;
  t.unk = 0;
  t.bos = 1;
  t.eos = 2;
  t.pad = -1;
  t.add_dummy_prefix = true;
  t.remove_extra_whitespaces = true;
  Reader r(bytes, source);
  while (!r.done()) {
    Field f = r.next();
    if (f.number == 1 && f.wire == 2) {
      Reader p(f.bytes, source);
      std::string piece;
      float score = 0.f;
      int type = 1;
      while (!p.done()) {
        Field g = p.next();
        if (g.number == 1 && g.wire == 2) piece = std::string(g.bytes);
        else if (g.number == 2 && g.wire == 5) score = as_float(g.value);
        else if (g.number == 3 && g.wire == 0) type = static_cast<int>(g.value);
      }
      if (piece.empty()) r.fail("piece #" + std::to_string(t.pieces.size()) + " is empty");
      if (type < 1 || type > 6) r.fail("piece \"" + piece + "\" has unknown type " + std::to_string(type));
      t.pieces.push_back(std::move(piece));
      t.scores.push_back(score);
      t.types.push_back(static_cast<PieceType>(type));
    } else if (f.number == 2 && f.wire == 2) {
      Reader p(f.bytes, source);
      while (!p.done()) {
        Field g = p.next();
        if (g.wire != 0) continue;
        if (g.number == 3) info.model_type = static_cast<int>(g.value);
        else if (g.number == 40) t.unk = as_int32(g.value);
        else if (g.number == 41) t.bos = as_int32(g.value);
        else if (g.number == 42) t.eos = as_int32(g.value);
        else if (g.number == 43) t.pad = as_int32(g.value);
      }
    } else if (f.number == 3 && f.wire == 2) {
      Reader p(f.bytes, source);
      while (!p.done()) {
        Field g = p.next();
        if (g.number == 1 && g.wire == 2) info.normalizer_name = std::string(g.bytes);
        else if (g.number == 2 && g.wire == 2) info.has_charsmap = !g.bytes.empty();
        else if (g.number == 3 && g.wire == 0) t.add_dummy_prefix = g.value != 0;
        else if (g.number == 4 && g.wire == 0) t.remove_extra_whitespaces = g.value != 0;
      }
    }
  }
  if (t.pieces.empty()) r.fail("no pieces");
  const int32_t n = static_cast<int32_t>(t.pieces.size());
  for (int32_t* id : {&t.unk, &t.bos, &t.eos, &t.pad})
    if (*id >= n) r.fail("special id " + std::to_string(*id) + " outside the " + std::to_string(n) + " pieces");
  return info;
}

}  // namespace rlhf::tokenizer
