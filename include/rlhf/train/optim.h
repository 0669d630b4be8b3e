// AdamW with two parameter groups (weight decay on matrices and embeddings, none on norms and
// biases), the learning-rate schedule (linear warmup + cosine decay), and gradient utilities
// (global norm, clipping, scaling) shared by every trainer.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rlhf/train/config.h"

namespace rlhf {

using NamedParams = std::vector<std::pair<std::string, torch::Tensor>>;

// Trainable parameters split by the decay rule: tensors with >= 2 dims decay; 1-D tensors
// (LayerNorm/RMSNorm gains, biases) do not. Parameters with requires_grad == false are left out.
struct ParamGroups {
  std::vector<torch::Tensor> decay, no_decay;
  std::vector<std::string> decay_names, no_decay_names;
  std::vector<torch::Tensor> all() const;  // decay then no_decay (the optimizer's order)
};
ParamGroups split_param_groups(const NamedParams& named);
NamedParams named_params(const torch::nn::Module& m);  // m.named_parameters(), as a vector

// AdamW: group 0 = decay (cfg.weight_decay), group 1 = no_decay (0). Empty groups are kept so the
// optimizer's saved state always has the same layout.
std::unique_ptr<torch::optim::AdamW> make_adamw(const ParamGroups& groups, const TrainConfig& cfg);
void set_lr(torch::optim::Optimizer& opt, double lr);
// One AdamW step on every gradient multiplied by grad_scale: one fused pass per float32 CPU
// parameter (kernels/train_vec.h) instead of torch's ten tensor operations; .grad is only read
// (left unscaled: writing it back would add a fifth stream to a pass bound by memory bandwidth).
// Same state entries and arithmetic as torch::optim::AdamW::step, so either can continue from the
// other's saved state. Other dtypes/devices, amsgrad, or
// RLHF_TRAIN_OPS=0 fall back to scale_grads + opt.step() (which does scale .grad in place).
void adamw_step(torch::optim::AdamW& opt, double grad_scale);

// Learning rate for optimizer step `step` (0-based) of cfg.steps: linear warmup from
// lr/warmup_steps to lr over warmup_steps steps, then cosine decay to lr * min_lr_ratio at the
// last step.
double lr_at(const TrainConfig& cfg, int64_t step);

// Global L2 norm of the gradients (undefined grads are skipped), accumulated in fp64.
double grad_norm(const std::vector<torch::Tensor>& params);
void scale_grads(const std::vector<torch::Tensor>& params, double factor);
// Scales gradients so their global norm is at most max_norm (no-op for max_norm <= 0 or a
// non-finite norm). Returns the norm before clipping.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace rlhf
