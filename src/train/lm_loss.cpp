// Causal-LM loss over labelled positions.
#include "rlhf/train/lm_loss.h"

#include "kernels/train_ops.h"

namespace rlhf {

MicroLoss lm_loss_sum(const torch::Tensor& logits, const data::LmBatch& batch) {
  const int64_t V = logits.size(-1);
  auto flat = logits.reshape({-1, V}).to(torch::kFloat32);
  auto labels = batch.labels.reshape({-1});
  MicroLoss m;
  // One pass per row forward and backward where the fused operator applies; ignored positions
  // (kIgnoreIndex < 0) give 0 and no gradient.
  static_assert(data::kIgnoreIndex < 0, "token_logprobs treats negative targets as ignored");
  m.sum = -kernels::token_logprobs(flat, labels).sum();
  m.count = static_cast<double>(batch.loss_tokens());
  m.tokens = batch.tokens();
  return m;
}

ForwardArgs lm_forward_args(const data::LmBatch& batch) {
  ForwardArgs args;
  if (batch.segment_ids.defined()) {
    // Padding sits in its own segment (-1) that no real query shares: no key mask needed.
    args.segment_ids = batch.segment_ids;
    args.position_ids = batch.position_ids;
  } else if (batch.attention_mask.min().item<int64_t>() == 0) {
    args.attention_mask = batch.attention_mask;
  }
  return args;
}

data::LmBatch lm_batch_to(data::LmBatch b, torch::Device device) {
  if (b.input_ids.device() == device) return b;
  for (auto* t : {&b.input_ids, &b.attention_mask, &b.labels, &b.position_ids, &b.segment_ids})
    if (t->defined()) *t = t->to(device);
  return b;
}

}  // namespace rlhf
