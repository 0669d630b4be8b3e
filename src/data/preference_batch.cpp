// Tokenization and right-padded batching of preference groups for reward models.
#include "rlhf/data/preference_batch.h"

#include <algorithm>

#include "rlhf/io/error.h"

namespace rlhf::data {

std::vector<int64_t> encode_reward_input(const Tokenizer& tok, const std::string& prompt, const std::string& response,
                                         int64_t max_len, bool* truncated, int64_t* response_start) {
  if (tok.eos_id() < 0) throw Error("reward model input: the tokenizer has no EOS token to read the reward at");
  if (max_len < 2) throw Error("reward model input: max length must be >= 2 (got " + std::to_string(max_len) + ")");
  std::vector<int32_t> p = tok.encode(prompt), r = tok.encode(response);
  bool bos = tok.add_bos_by_default() && tok.bos_id() >= 0;
  int64_t fixed = (bos ? 1 : 0) + 1;  // BOS + EOS
  int64_t total = fixed + static_cast<int64_t>(p.size() + r.size());
  if (truncated) *truncated = total > max_len;
  std::vector<int64_t> ids;
  ids.reserve(std::min(total, max_len));
  if (bos) ids.push_back(tok.bos_id());
  int64_t room = max_len - fixed;  // for prompt + response tokens
  if (static_cast<int64_t>(r.size()) >= room) {
    if (response_start) *response_start = static_cast<int64_t>(ids.size());
    ids.insert(ids.end(), r.end() - room, r.end());
  } else {
    int64_t keep_p = std::min<int64_t>(p.size(), room - static_cast<int64_t>(r.size()));
    ids.insert(ids.end(), p.end() - keep_p, p.end());
    if (response_start) *response_start = static_cast<int64_t>(ids.size());
    ids.insert(ids.end(), r.begin(), r.end());
  }
  ids.push_back(tok.eos_id());
  return ids;
}

std::vector<TokenizedGroup> tokenize_groups(const std::vector<PreferenceGroup>& groups, const Tokenizer& tok,
                                            int64_t max_len, int64_t* truncated) {
  std::vector<TokenizedGroup> out;
  out.reserve(groups.size());
  int64_t cut = 0;
  for (const auto& g : groups) {
    TokenizedGroup t;
    for (const auto& r : g.responses) {
      bool c = false;
      int64_t start = 0;
      t.seqs.push_back(encode_reward_input(tok, g.prompt, r, max_len, &c, &start));
      t.starts.push_back(start);
      cut += c;
    }
    t.level = g.level;
    t.margin = g.margin;
    out.push_back(std::move(t));
  }
  if (truncated) *truncated = cut;
  return out;
}

RewardBatch collate_sequences(const std::vector<const std::vector<int64_t>*>& seqs, int64_t pad_id,
                              const std::vector<int64_t>* starts) {
  if (starts && starts->size() != seqs.size()) throw Error("reward batch: one response start per sequence expected");
  RewardBatch b;
  int64_t n = static_cast<int64_t>(seqs.size()), t = 1;
  for (const auto* s : seqs) t = std::max<int64_t>(t, s->size());
  b.tokens = torch::full({n, t}, pad_id, torch::kLong);
  b.last_index = torch::zeros({n}, torch::kLong);
  b.response_start = torch::zeros({n}, torch::kLong);
  auto tok = b.tokens.accessor<int64_t, 2>();
  auto first = b.response_start.accessor<int64_t, 1>();
  auto last = b.last_index.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& s = *seqs[i];
    if (s.empty()) throw Error("reward batch: an empty token sequence (every input ends in EOS)");
    for (size_t j = 0; j < s.size(); ++j) tok[i][j] = s[j];
    last[i] = static_cast<int64_t>(s.size()) - 1;
    if (starts) first[i] = std::min((*starts)[i], last[i]);
    b.real_tokens += s.size();
  }
  return b;
}

RewardBatch collate_groups(const std::vector<TokenizedGroup>& all, const std::vector<int64_t>& pick, int64_t pad_id,
                           double margin_scale) {
  std::vector<const std::vector<int64_t>*> seqs;
  std::vector<int64_t> starts;
  std::vector<reward::GroupSpec> specs;
  for (int64_t gi : pick) {
    const auto& g = all.at(gi);
    specs.push_back({static_cast<int64_t>(seqs.size()), g.level, margin_scale * g.margin});
    for (size_t k = 0; k < g.seqs.size(); ++k) {
      seqs.push_back(&g.seqs[k]);
      starts.push_back(k < g.starts.size() ? g.starts[k] : 0);
    }
  }
  RewardBatch b = collate_sequences(seqs, pad_id, &starts);
  b.groups = std::move(specs);
  return b;
}

int64_t reward_pad_id(const Tokenizer& tok) {
  if (tok.pad_id() >= 0) return tok.pad_id();
  if (tok.eos_id() >= 0) return tok.eos_id();
  return 0;
}

}  // namespace rlhf::data
