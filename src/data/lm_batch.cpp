// Padding collation for causal-LM batches.
#include "rlhf/data/lm_batch.h"

#include <algorithm>

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

}  // namespace rlhf::data
