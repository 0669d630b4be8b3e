// Causal-LM loss over labelled positions.
#include "rlhf/train/lm_loss.h"

namespace rlhf {

MicroLoss lm_loss_sum(const torch::Tensor& logits, const data::LmBatch& batch) {
  const int64_t V = logits.size(-1);
  auto flat = logits.reshape({-1, V}).to(torch::kFloat32);
  auto loss = torch::nn::functional::cross_entropy(
      flat, batch.labels.reshape({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(data::kIgnoreIndex).reduction(torch::kSum));
  MicroLoss m;
  m.sum = loss;
  m.count = static_cast<double>(batch.loss_tokens());
  m.tokens = batch.tokens();
  return m;
}

}  // namespace rlhf
