// A byte-level stand-in tokenizer for reward tests: id = byte value, EOS = 256, no BOS, so token
// ids are known by hand without a trained vocabulary.
#pragma once
#include "rlhf/model/config.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::test_support {

class ByteTokenizer : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool = false) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids, bool = false) const override {
    std::string s;
    for (int32_t i : ids)
      if (i < 256) s.push_back(static_cast<char>(i));
    return s;
  }
  int32_t vocab_size() const override { return 257; }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return 256; }
  int32_t pad_id() const override { return -1; }
  std::optional<int32_t> token_to_id(const std::string&) const override { return std::nullopt; }
  std::string id_to_token(int32_t id) const override { return std::to_string(id); }
  bool add_bos_by_default() const override { return false; }
  void save(const std::string&) const override {}
  std::string kind() const override { return "bytes"; }
};

// A 1-layer GPT-2-layout config over ByteTokenizer's 257 ids (EOS 256).
inline ModelConfig byte_model_config() {
  ModelConfig c;
  c.arch = "gpt2";
  c.vocab_size = 257;
  c.n_layer = 1;
  c.n_head = 2;
  c.d_model = 16;
  c.max_seq = 64;
  c.eos_id = 256;
  return c;
}

}  // namespace rlhf::test_support
