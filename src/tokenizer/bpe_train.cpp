// BPE training over unique pre-tokenized words with incremental pair counts and a lazy max-heap.
#include "rlhf/tokenizer/bpe_train.h"

#include <algorithm>
#include <queue>
#include <unordered_map>

#include "rlhf/io/error.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

namespace rlhf {
namespace {

uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

struct Word {
  std::vector<int32_t> syms;
  int64_t count = 0;
};

// Heap entry: higher count first, then the smaller pair (HF's tie-break).
struct Entry {
  int64_t count;
  uint64_t pair;
  bool operator<(const Entry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

class Trainer {
 public:
  explicit Trainer(const std::vector<Word>& words) : words_(words) {
    for (size_t w = 0; w < words_.size(); ++w) add_pairs(static_cast<int>(w), +1);
    for (const auto& [p, c] : counts_)
      if (c > 0) heap_.push({c, p});
  }

  // The most frequent pair with its count, or count 0 when none is left.
  Entry pop_best() {
    while (!heap_.empty()) {
      Entry e = heap_.top();
      heap_.pop();
      auto it = counts_.find(e.pair);
      int64_t now = it == counts_.end() ? 0 : it->second;
      if (now == e.count && now > 0) return e;
      if (now > 0 && now != e.count) heap_.push({now, e.pair});  // stale: requeue with the true count
    }
    return {0, 0};
  }

  // Replaces every (a, b) by `merged` in the words that contain it, updating the counts.
  void merge(uint64_t pair, int32_t merged) {
    int32_t a = static_cast<int32_t>(pair >> 32), b = static_cast<int32_t>(pair & 0xffffffffu);
    std::vector<int> ws = std::move(where_[pair]);
    where_.erase(pair);
    std::sort(ws.begin(), ws.end());
    ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
    for (int w : ws) {
      auto& s = words_[w].syms;
      bool has = false;
      for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == a && s[i + 1] == b;
      if (!has) continue;
      add_pairs(w, -1);
      std::vector<int32_t> out;
      out.reserve(s.size());
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(merged);
          i += 2;
        } else {
          out.push_back(s[i++]);
        }
      }
      s = std::move(out);
      add_pairs(w, +1);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] == merged || s[i + 1] == merged) {
          uint64_t p = key(s[i], s[i + 1]);
          heap_.push({counts_[p], p});
        }
      }
    }
  }

 private:
  void add_pairs(int w, int sign) {
    const auto& s = words_[w].syms;
    int64_t c = words_[w].count * sign;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      uint64_t p = key(s[i], s[i + 1]);
      int64_t& n = counts_[p];
      n += c;
      if (sign > 0) where_[p].push_back(w);
      else if (n == 0) counts_.erase(p);
    }
  }

  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<int>> where_;
  std::priority_queue<Entry> heap_;
};

SpecialTokenNames roles(const std::vector<std::string>& specials) {
  auto has = [&](const char* t) { return std::find(specials.begin(), specials.end(), t) != specials.end(); };
  SpecialTokenNames n;
  if (has("<|endoftext|>")) n.eos = "<|endoftext|>";
  else if (has("</s>")) n.eos = "</s>";
  if (has("<|bos|>")) n.bos = "<|bos|>";
  else if (has("<s>")) n.bos = "<s>";
  else n.bos = n.eos;
  if (has("<|pad|>")) n.pad = "<|pad|>";
  else if (has("<pad>")) n.pad = "<pad>";
  return n;
}

}  // namespace

std::shared_ptr<BpeTokenizer> train_bpe(const std::vector<std::string>& texts, const BpeTrainConfig& config) {
  const auto& specials = config.special_tokens;
  int min_size = 256 + static_cast<int>(specials.size());
  if (config.vocab_size < min_size)
    throw Error("train_bpe: vocab_size " + std::to_string(config.vocab_size) + " is below 256 bytes + " +
                std::to_string(specials.size()) + " special tokens = " + std::to_string(min_size));
  for (size_t k = 0; k < specials.size(); ++k) {
    if (specials[k].empty()) throw Error("train_bpe: special token #" + std::to_string(k) + " is empty");
    for (size_t j = 0; j < k; ++j)
      if (specials[j] == specials[k]) throw Error("train_bpe: special token \"" + specials[k] + "\" is listed twice");
  }

  // Count distinct words, with the special tokens cut out of the text.
  std::vector<AddedToken> cut;
  for (const auto& s : specials) cut.push_back({0, s, true});
  std::vector<const AddedToken*> cut_ptrs;
  for (const auto& a : cut) cut_ptrs.push_back(&a);
  std::unordered_map<std::string, int64_t> word_counts;
  for (const auto& text : texts) {
    split_added_tokens(
        text, cut_ptrs,
        [&](std::string_view seg) { tokenizer::gpt2_split(seg, [&](std::string_view w) { ++word_counts[std::string(w)]; }); },
        [](int32_t) {});
  }
  // Sorted for determinism (unordered_map iteration order is not part of the contract).
  std::vector<std::pair<std::string, int64_t>> sorted(word_counts.begin(), word_counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<Word> words;
  words.reserve(sorted.size());
  for (const auto& [w, c] : sorted) {
    Word word;
    word.count = c;
    for (unsigned char ch : w) word.syms.push_back(ch);
    words.push_back(std::move(word));
  }

  // Token id -> its bytes; the byte-level string form is made at the end.
  std::vector<std::string> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[b] = std::string(1, static_cast<char>(b));
  std::unordered_map<std::string, int32_t> ids;
  for (int b = 0; b < 256; ++b) ids[bytes[b]] = b;
  std::vector<std::pair<int32_t, int32_t>> merges;

  const int target = config.vocab_size - static_cast<int>(specials.size());
  Trainer trainer(words);
  while (static_cast<int>(bytes.size()) < target) {
    Entry best = trainer.pop_best();
    if (best.count < std::max(1, config.min_pair_count)) break;
    int32_t a = static_cast<int32_t>(best.pair >> 32), b = static_cast<int32_t>(best.pair & 0xffffffffu);
    std::string joined = bytes[a] + bytes[b];
    auto it = ids.find(joined);
    int32_t merged;
    if (it != ids.end()) {
      merged = it->second;  // same bytes reached by another split: a merge but no new token
    } else {
      merged = static_cast<int32_t>(bytes.size());
      bytes.push_back(joined);
      ids.emplace(joined, merged);
    }
    merges.emplace_back(a, b);
    trainer.merge(best.pair, merged);
  }

  std::vector<std::string> vocab;
  vocab.reserve(bytes.size() + specials.size());
  for (const auto& b : bytes) vocab.push_back(tokenizer::bytes_to_token(b));
  std::vector<AddedToken> added;
  for (const auto& s : specials) {
    added.push_back({static_cast<int32_t>(vocab.size()), s, true});
    vocab.push_back(s);
  }
  std::vector<std::pair<std::string, std::string>> merge_strings;
  merge_strings.reserve(merges.size());
  for (const auto& [a, b] : merges) merge_strings.emplace_back(vocab[a], vocab[b]);
  return std::make_shared<BpeTokenizer>(std::move(vocab), merge_strings, std::move(added), roles(specials),
                                        "train_bpe");
}

std::shared_ptr<BpeTokenizer> train_bpe(const std::vector<std::string>& texts, int vocab_size,
                                        std::vector<std::string> special_tokens) {
  BpeTrainConfig c;
  c.vocab_size = vocab_size;
  c.special_tokens = std::move(special_tokens);
  return train_bpe(texts, c);
}

}  // namespace rlhf
