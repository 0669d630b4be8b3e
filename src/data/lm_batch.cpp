// Padding collation for causal-LM batches.
#include "rlhf/data/lm_batch.h"

#include <algorithm>
#include <numeric>

#include "rlhf/io/error.h"

namespace rlhf::data {

int64_t LmBatch::tokens() const { return attention_mask.sum().item<int64_t>(); }
int64_t LmBatch::loss_tokens() const { return labels.ne(kIgnoreIndex).sum().item<int64_t>(); }

LmBatch collate_padded(const std::vector<const TokenizedExample*>& rows, int64_t pad_id) {
  if (rows.empty()) throw Error("collate_padded: empty batch");
  size_t T = 0;
  for (const auto* r : rows) {
    if (r->ids.size() < 2) throw Error("collate_padded: an example needs at least 2 tokens (input and target)");
    T = std::max(T, r->ids.size() - 1);
  }
  const int64_t B = static_cast<int64_t>(rows.size());
  auto ids = torch::full({B, static_cast<int64_t>(T)}, pad_id, torch::kInt64);
  auto mask = torch::zeros({B, static_cast<int64_t>(T)}, torch::kInt64);
  auto labels = torch::full({B, static_cast<int64_t>(T)}, kIgnoreIndex, torch::kInt64);
  auto pi = ids.accessor<int64_t, 2>();
  auto pm = mask.accessor<int64_t, 2>();
  auto pl = labels.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& r = *rows[static_cast<size_t>(b)];
    size_t L = r.ids.size() - 1;
    for (size_t t = 0; t < L; ++t) {
      pi[b][t] = r.ids[t];
      pm[b][t] = 1;
      if (r.train[t + 1]) pl[b][t] = r.ids[t + 1];
    }
  }
  return {ids, mask, labels};
}

LmBatch collate_packed(const std::vector<const TokenizedExample*>& examples, int64_t max_len, int64_t pad_id) {
  if (examples.empty()) throw Error("collate_packed: empty batch");
  if (max_len < 1) throw Error("collate_packed: max_len must be >= 1");
  const size_t n = examples.size();
  std::vector<int64_t> len(n);
  for (size_t i = 0; i < n; ++i) {
    if (examples[i]->ids.size() < 2) throw Error("collate_packed: an example needs at least 2 tokens (input and target)");
    len[i] = static_cast<int64_t>(examples[i]->ids.size()) - 1;
    if (len[i] > max_len)
      throw Error("collate_packed: an example of " + std::to_string(len[i]) + " inputs exceeds the row length " +
                  std::to_string(max_len));
  }
  // First-fit decreasing; ties keep the input order (stable), so the packing is deterministic.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return len[a] > len[b]; });
  std::vector<std::vector<size_t>> rows;
  std::vector<int64_t> fill;
  for (size_t i : order) {
    size_t r = 0;
    while (r < rows.size() && fill[r] + len[i] > max_len) ++r;
    if (r == rows.size()) {
      rows.emplace_back();
      fill.push_back(0);
    }
    rows[r].push_back(i);
    fill[r] += len[i];
  }
  const int64_t B = static_cast<int64_t>(rows.size());
  const int64_t T = *std::max_element(fill.begin(), fill.end());
  auto ids = torch::full({B, T}, pad_id, torch::kInt64);
  auto mask = torch::zeros({B, T}, torch::kInt64);
  auto labels = torch::full({B, T}, kIgnoreIndex, torch::kInt64);
  auto pos = torch::zeros({B, T}, torch::kInt64);
  auto seg = torch::full({B, T}, -1, torch::kInt64);
  auto pi = ids.accessor<int64_t, 2>();
  auto pm = mask.accessor<int64_t, 2>();
  auto pl = labels.accessor<int64_t, 2>();
  auto pp = pos.accessor<int64_t, 2>();
  auto ps = seg.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    int64_t t0 = 0;
    for (size_t s = 0; s < rows[static_cast<size_t>(b)].size(); ++s) {
      const auto& r = *examples[rows[static_cast<size_t>(b)][s]];
      const int64_t L = static_cast<int64_t>(r.ids.size()) - 1;
      for (int64_t t = 0; t < L; ++t) {
        pi[b][t0 + t] = r.ids[static_cast<size_t>(t)];
        pm[b][t0 + t] = 1;
        pp[b][t0 + t] = t;
        ps[b][t0 + t] = static_cast<int64_t>(s);
        if (r.train[static_cast<size_t>(t + 1)]) pl[b][t0 + t] = r.ids[static_cast<size_t>(t + 1)];
      }
      t0 += L;
    }
  }
  LmBatch out{ids, mask, labels};
  out.position_ids = pos;
  out.segment_ids = seg;
  return out;
}

}  // namespace rlhf::data
