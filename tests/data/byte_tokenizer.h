// A byte-per-token tokenizer for data tests: id = byte value, EOS = 256. Token boundaries are
// obvious, so masks and labels can be checked by hand.
#pragma once
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::testing {

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool = false) const override {
    std::vector<int32_t> v;
    for (unsigned char c : text) v.push_back(c);
    return v;
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override {
    std::string s;
    for (int32_t i : ids)
      if (i < 256) s += static_cast<char>(i);
      else if (!skip_special) s += "<|endoftext|>";
    return s;
  }
  int32_t vocab_size() const override { return 257; }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return 256; }
  int32_t pad_id() const override { return -1; }
  std::optional<int32_t> token_to_id(const std::string& t) const override {
    if (t == "<|endoftext|>") return 256;
    if (t.size() == 1) return static_cast<unsigned char>(t[0]);
    return std::nullopt;
  }
  std::string id_to_token(int32_t id) const override { return id == 256 ? "<|endoftext|>" : std::string(1, char(id)); }
  bool add_bos_by_default() const override { return false; }
  void save(const std::string&) const override {}
  std::string kind() const override { return "bytes"; }
};

}  // namespace rlhf::testing
