// The causal-LM loss (pretraining and SFT): summed token cross-entropy over labelled positions,
// returned with its token count so accumulation divides by the whole step's tokens.
#pragma once
#include <torch/torch.h>

#include "rlhf/data/lm_batch.h"
#include "rlhf/model/transformer.h"
#include "rlhf/train/trainer.h"

namespace rlhf {

// logits (B, T, V) any float dtype; labels (B, T) int64 with data::kIgnoreIndex where no loss.
// Returns {sum of -log p(label) in fp32, number of labelled positions, real input tokens}.
MicroLoss lm_loss_sum(const torch::Tensor& logits, const data::LmBatch& batch);

// The forward arguments a batch needs: positions and segments of packed rows; the padding mask
// only when some position is padding (a full batch attends causally without one).
ForwardArgs lm_forward_args(const data::LmBatch& batch);
// The batch with every tensor moved to `device` (a no-op on the CPU).
data::LmBatch lm_batch_to(data::LmBatch batch, torch::Device device);

// Mean loss over batches (no grad), for validation: sum of sums / sum of counts.
template <typename LossFn>
double mean_loss(int64_t n_batches, LossFn&& fn) {
  double s = 0, c = 0;
  for (int64_t i = 0; i < n_batches; ++i) {
    MicroLoss m = fn(i);
    s += m.sum.item<double>();
    c += m.count;
  }
  return c > 0 ? s / c : 0.0;
}

}  // namespace rlhf
