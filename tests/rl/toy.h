// Test helpers for the RL tests: a word-level tokenizer over a tiny vocabulary and a tiny
// random GPT-2-layout policy, so rollouts and updates run in milliseconds.
#pragma once
#include <torch/torch.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "rlhf/model/transformer.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::test {

// Word-level tokenizer: id 0 = "<eos>", then one id per word; encode splits on whitespace
// (unknown words map to "<unk>"), decode writes " word" per id (the response convention).
class WordTokenizer : public Tokenizer {
 public:
  explicit WordTokenizer(std::vector<std::string> words) : words_{"<eos>", "<unk>"} {
    for (auto& w : words) words_.push_back(w);
    for (size_t i = 0; i < words_.size(); ++i) ids_[words_[i]] = static_cast<int32_t>(i);
  }
  std::vector<int32_t> encode(std::string_view text, bool = false) const override {
    std::istringstream in{std::string(text)};
    std::vector<int32_t> out;
    std::string w;
    while (in >> w) {
      auto it = ids_.find(w);
      out.push_back(it == ids_.end() ? 1 : it->second);
    }
    return out;
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override {
    std::string s;
    for (int32_t id : ids) {
      if (skip_special && id <= 1) continue;
      s += " " + words_.at(id);
    }
    return s;
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(words_.size()); }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return 0; }
  int32_t pad_id() const override { return -1; }
  std::optional<int32_t> token_to_id(const std::string& t) const override {
    auto it = ids_.find(t);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  std::string id_to_token(int32_t id) const override { return words_.at(id); }
  bool add_bos_by_default() const override { return false; }
  void save(const std::string&) const override {}
  std::string kind() const override { return "words"; }

 private:
  std::vector<std::string> words_;
  std::map<std::string, int32_t> ids_;
};

inline std::vector<std::string> toy_words() {
  return {"the", "cat", "dog", "sat", "ran", "on", "a", "mat", "banana", "red", "big", "say", "please", "now"};
}

// A tiny GPT-2-layout model over the toy vocabulary, seeded.
inline Transformer toy_model(int64_t vocab, uint64_t seed, int64_t d_model = 32) {
  torch::manual_seed(seed);
  ModelConfig cfg;
  cfg.arch = "gpt2";
  cfg.vocab_size = vocab;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.d_model = d_model;
  cfg.max_seq = 64;
  cfg.eos_id = 0;
  return Transformer(cfg);
}

}  // namespace rlhf::test
