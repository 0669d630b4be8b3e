// Byte-level BPE encode/decode: GPT-2 split, then rank-ordered merges per pre-token with a heap
// over a linked list of symbols (O(n log n) even for very long words), cached per word.
#include "rlhf/tokenizer/bpe.h"

#include <queue>

#include "rlhf/io/error.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

namespace rlhf {
namespace {

constexpr size_t kMaxCacheEntries = 1 << 18;  // cleared when full; words repeat a lot in practice
constexpr size_t kMaxCachedWordBytes = 64;    // long words (e.g. runs of spaces) are not cached

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

BpeTokenizer::BpeTokenizer(std::vector<std::string> vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges,
                           std::vector<AddedToken> added, SpecialTokenNames names, const std::string& source)
    : vocab_(std::move(vocab)), added_(std::move(added)), names_(std::move(names)) {
  token_ids_.reserve(vocab_.size() * 2);
  for (size_t id = 0; id < vocab_.size(); ++id) {
    if (!token_ids_.emplace(vocab_[id], static_cast<int32_t>(id)).second)
      throw Error(source + ": token \"" + vocab_[id] + "\" appears twice in the vocabulary (ids " +
                  std::to_string(token_ids_[vocab_[id]]) + " and " + std::to_string(id) + ")");
  }
  for (int b = 0; b < 256; ++b) {
    std::string t = tokenizer::bytes_to_token(std::string(1, static_cast<char>(b)));
    auto it = token_ids_.find(t);
    if (it == token_ids_.end())
      throw Error(source + ": the vocabulary lacks the byte-level token for byte " + std::to_string(b) + " (\"" + t +
                  "\"); only byte-level BPE vocabularies are supported");
    byte_ids_[b] = it->second;
  }
  merge_list_.reserve(merges.size());
  merges_.reserve(merges.size() * 2);
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [a, b] = merges[r];
    auto ia = token_ids_.find(a), ib = token_ids_.find(b), im = token_ids_.find(a + b);
    if (ia == token_ids_.end() || ib == token_ids_.end() || im == token_ids_.end())
      throw Error(source + ": merge #" + std::to_string(r) + " (\"" + a + "\" \"" + b +
                  "\") uses or makes a token that is not in the vocabulary");
    merge_list_.emplace_back(ia->second, ib->second);
    // The first (highest-priority) occurrence of a pair wins, as in Hugging Face.
    merges_.emplace(pair_key(ia->second, ib->second), std::make_pair(static_cast<int32_t>(r), im->second));
  }
  is_special_.assign(vocab_.size(), 0);
  is_added_.assign(vocab_.size(), 0);
  for (const auto& a : added_) {
    if (a.id < 0 || a.id >= static_cast<int32_t>(vocab_.size()) || vocab_[a.id] != a.content)
      throw Error(source + ": added token \"" + a.content + "\" (id " + std::to_string(a.id) +
                  ") does not match the vocabulary");
    if (a.special) is_special_[a.id] = 1;
    is_added_[a.id] = 1;
  }
  auto role = [&](const std::string& name, const char* what) -> int32_t {
    if (name.empty()) return -1;
    auto it = token_ids_.find(name);
    if (it == token_ids_.end()) throw Error(source + ": " + what + " token \"" + name + "\" is not in the vocabulary");
    is_special_[it->second] = 1;
    return it->second;
  };
  if (names_.eos.empty() && token_ids_.count("<|endoftext|>")) names_.eos = "<|endoftext|>";
  bos_ = role(names_.bos, "bos");
  eos_ = role(names_.eos, "eos");
  pad_ = role(names_.pad, "pad");
}

std::optional<int32_t> BpeTokenizer::token_to_id(const std::string& token) const {
  auto it = token_ids_.find(token);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

std::string BpeTokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size()) throw Error("token id " + std::to_string(id) + " is outside the vocabulary (size " + std::to_string(vocab_size()) + ")");
  return vocab_[id];
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(std::string(word));
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // Symbols as a doubly linked list over positions; merged-away symbols get id -1.
  const int n = static_cast<int>(word.size());
  std::vector<int32_t> id(n);
  std::vector<int> prev(n), next(n);
  for (int k = 0; k < n; ++k) {
    id[k] = byte_ids_[static_cast<unsigned char>(word[k])];
    prev[k] = k - 1;
    next[k] = k + 1 < n ? k + 1 : -1;
  }
  // (rank, left position, left id, right id): min-heap; stale entries are skipped on pop.
  struct Cand {
    int32_t rank;
    int pos;
    int32_t left, right;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    auto it = merges_.find(pair_key(id[pos], id[next[pos]]));
    if (it != merges_.end()) heap.push({it->second.first, pos, id[pos], id[next[pos]]});
  };
  for (int k = 0; k + 1 < n; ++k) push(k);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int r = next[c.pos];
    if (id[c.pos] != c.left || r < 0 || id[r] != c.right) continue;  // stale
    id[c.pos] = merges_.at(pair_key(c.left, c.right)).second;
    id[r] = -1;
    next[c.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  size_t first = out.size();
  for (int k = 0; k >= 0 && k < n; k = next[k]) out.push_back(id[k]);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(word), std::vector<int32_t>(out.begin() + first, out.end()));
  }
}

void BpeTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  tokenizer::gpt2_split(text, [&](std::string_view w) { encode_word(w, out); });
}

void split_added_tokens(std::string_view text, const std::vector<const AddedToken*>& tokens,
                        const std::function<void(std::string_view)>& plain,
                        const std::function<void(int32_t)>& token) {
  if (tokens.empty()) {
    if (!text.empty()) plain(text);
    return;
  }
  size_t seg = 0, pos = 0;
  while (pos < text.size()) {
    const AddedToken* best = nullptr;
    for (const AddedToken* t : tokens) {
      if (!t->content.empty() && text.compare(pos, t->content.size(), t->content) == 0 &&
          (!best || t->content.size() > best->content.size()))
        best = t;
    }
    if (!best) {
      ++pos;
      continue;
    }
    if (pos > seg) plain(text.substr(seg, pos - seg));
    token(best->id);
    pos += best->content.size();
    seg = pos;
  }
  if (seg < text.size()) plain(text.substr(seg));
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool allow_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  std::vector<const AddedToken*> active;
  for (const auto& a : added_)
    if (allow_special || !a.special) active.push_back(&a);
  split_added_tokens(
      text, active, [&](std::string_view s) { encode_plain(s, out); }, [&](int32_t id) { out.push_back(id); });
  return out;
}

std::string BpeTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size())
      throw Error("decode: token id " + std::to_string(id) + " is outside the vocabulary (size " +
                  std::to_string(vocab_size()) + ")");
    if (skip_special && is_special_[id]) continue;
    const std::string& t = vocab_[id];
    size_t before = out.size();
    if (is_added_[id] || !tokenizer::token_to_bytes(t, &out)) {  // an added token stored as raw text
      out.resize(before);
      out += t;
    }
  }
  return out;
}

}  // namespace rlhf
