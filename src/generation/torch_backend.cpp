// generate()'s libtorch backend: prompts left-padded into one (B, P) batch, attention_mask
// marking the padding and position_ids = cumsum(mask) - 1 so each row starts at position 0;
// the KV cache is written in place and finished rows are dropped with KVCache::select_rows.
#include <algorithm>

#include "generation/backend.h"

namespace rlhf::detail {

namespace {
class TorchBackend : public DecodeBackend {
 public:
  TorchBackend(Transformer& model, const GenerateOptions& opts) : model_(model), compact_(opts.compact_fraction) {
    const torch::Tensor p = model_->parameters().front();
    dtype_ = p.scalar_type();
    device_ = p.device();
  }

  void prefill(const std::vector<std::vector<int64_t>>& prompts, int64_t max_new_tokens) override {
    const int64_t B = static_cast<int64_t>(prompts.size());
    int64_t P = 0;
    for (const auto& p : prompts) P = std::max<int64_t>(P, static_cast<int64_t>(p.size()));
    auto tok = torch::zeros({B, P}, torch::kLong);
    auto mask = torch::zeros({B, P}, torch::kLong);
    auto ta = tok.accessor<int64_t, 2>();
    auto ma = mask.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = static_cast<int64_t>(prompts[b].size()), off = P - n;
      for (int64_t j = 0; j < n; ++j) {
        ta[b][off + j] = prompts[b][j];
        ma[b][off + j] = 1;
      }
    }
    tok = tok.to(device_);
    mask_ = mask.to(device_);
    auto pos = (mask_.cumsum(1) - 1).clamp_min(0);  // (B, P)
    cache_ = KVCache::allocate(model_->config(), B, P + max_new_tokens, dtype_, device_);
    ForwardArgs args{mask_, pos, &cache_};
    auto h = model_->hidden(tok, args);                          // (B, P, C)
    set_logits(model_->lm_head(h.narrow(1, P - 1, 1)).squeeze(1));  // (B, V)
    last_pos_ = pos.select(1, P - 1).clone();                     // (B)
    cache_rows_.resize(B);
    for (int64_t b = 0; b < B; ++b) cache_rows_[b] = b;
  }

  void step(const std::vector<int64_t>& rows, const std::vector<int64_t>& tokens) override {
    const int64_t n = static_cast<int64_t>(rows.size()), B = static_cast<int64_t>(cache_rows_.size());
    if (compact_ > 0 && n < B && static_cast<double>(B - n) >= compact_ * static_cast<double>(B)) compact(rows);
    // Position of each requested row inside the current cache batch.
    std::vector<int64_t> where(n);
    for (int64_t i = 0, c = 0; i < n; ++i) {
      while (cache_rows_[c] != rows[i]) ++c;
      where[i] = c;
    }
    const int64_t Bc = static_cast<int64_t>(cache_rows_.size());
    auto tok = torch::zeros({Bc, 1}, torch::kLong);  // finished rows feed a dummy token, ignored
    auto ta = tok.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) ta[where[i]][0] = tokens[i];
    mask_ = torch::cat({mask_, torch::ones({Bc, 1}, mask_.options())}, 1);
    last_pos_ = last_pos_ + 1;
    ForwardArgs args{mask_, last_pos_.unsqueeze(1), &cache_};
    auto logits = model_->forward(tok.to(device_), args).squeeze(1);  // (Bc, V)
    if (n < Bc) logits = logits.index_select(0, torch::tensor(where, torch::kLong).to(device_));
    set_logits(logits);
  }

  const float* logits() const override { return logits_.data_ptr<float>(); }
  int64_t vocab() const override { return model_->config().vocab_size; }

 private:
  void set_logits(const torch::Tensor& l) { logits_ = l.to(torch::kCPU, torch::kFloat).contiguous(); }

  // Keeps only `rows` (a subset of cache_rows_, same order) in the cache, mask and positions.
  void compact(const std::vector<int64_t>& rows) {
    std::vector<int64_t> keep;
    for (size_t c = 0, i = 0; c < cache_rows_.size() && i < rows.size(); ++c)
      if (cache_rows_[c] == rows[i]) {
        keep.push_back(static_cast<int64_t>(c));
        ++i;
      }
    auto idx = torch::tensor(keep, torch::kLong).to(device_);
    cache_.select_rows(idx);
    mask_ = mask_.index_select(0, idx);
    last_pos_ = last_pos_.index_select(0, idx);
    cache_rows_ = rows;
  }

  Transformer model_;
  double compact_;
  torch::Dtype dtype_ = torch::kFloat;
  torch::Device device_ = torch::kCPU;
  KVCache cache_;
  torch::Tensor mask_;      // (Bc, S) 1 = real token
  torch::Tensor last_pos_;  // (Bc) position of each row's latest token
  std::vector<int64_t> cache_rows_;  // row id (as in prefill) of each cache row
  torch::Tensor logits_;    // (n, V) float on the CPU
};
}  // namespace

std::unique_ptr<DecodeBackend> make_torch_backend(Transformer& model, const GenerateOptions& opts) {
  return std::make_unique<TorchBackend>(model, opts);
}

}  // namespace rlhf::detail
