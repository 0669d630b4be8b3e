// The shared optimizer step every trainer uses: gradient accumulation over micro-batches given
// by a loss closure, bf16 training with fp32 master weights, global-norm clipping, AdamW with the
// scheduled learning rate, NaN/Inf detection, and trainer-state save/load for exact resume.
//
// A method (SFT, reward model, DPO, PPO...) only writes its loss: a closure returning the SUM of
// its per-unit losses (tokens, pairs...) over one micro-batch and the number of units. The step's
// loss is sum over micro-batches / total units, so batch 8 and batch 1 x accumulation 8 take the
// same step.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>

#include "rlhf/io/error.h"
#include "rlhf/train/config.h"
#include "rlhf/train/optim.h"
#include "rlhf/train/state.h"

namespace rlhf {

namespace kernels {
class TrainMatmulDtypeGuard;
}

struct MicroLoss {
  torch::Tensor sum;   // scalar, autograd-connected: sum of per-unit losses in this micro-batch
  double count = 0;    // units behind `sum` (loss tokens, pairs, sequences)
  int64_t tokens = 0;  // input tokens processed (tokens/s)
};
// Called grad_accum times per step with the micro-batch index 0..grad_accum-1; it draws its own
// data (advancing Trainer::state().epoch / position so a resume continues at the same example).
using MicroLossFn = std::function<MicroLoss(int64_t micro)>;

struct StepStats {
  int64_t step = 0;        // steps completed, 1-based
  double loss = 0;         // mean loss of the step (sum / units)
  double lr = 0;           // learning rate the step used
  double grad_norm = 0;    // global gradient norm before clipping
  int64_t tokens = 0;      // input tokens of the step
  double seconds = 0;      // wall time of the step
};

// Thrown when a loss or the gradient norm is NaN/Inf; the weights are left as they were before
// the step (no optimizer update happened).
class NonFiniteError : public Error {
 public:
  NonFiniteError(const std::string& msg, int64_t step) : Error(msg), step_(step) {}
  int64_t step() const { return step_; }

 private:
  int64_t step_;
};

// bf16 training precision for its lifetime when `on` (no-op otherwise). Weights stay fp32;
// matmuls run in bf16; reductions and losses in fp32. It enables CPU autocast to bf16 and, where
// the fused training operators run (CPU, RLHF_TRAIN_OPS not 0), sets the kernels' thread-local
// training matmul dtype to bf16: the Transformer then lifts autocast and its linear layers (LM
// head included) take bf16 operands with fp32 results, while its attention stays fp32.
class AutocastGuard {
 public:
  explicit AutocastGuard(bool on);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool on_, prev_enabled_ = false;
  c10::ScalarType prev_dtype_ = c10::ScalarType::BFloat16;
  std::unique_ptr<kernels::TrainMatmulDtypeGuard> matmul_;
};

class Trainer {
 public:
  // `params`: the model's named parameters (frozen ones, requires_grad == false, are skipped).
  Trainer(const NamedParams& params, const TrainConfig& cfg);

  // One optimizer step (see the file comment). Throws NonFiniteError naming the step.
  StepStats step(const MicroLossFn& micro);

  TrainerState& state() { return state_; }
  const TrainConfig& config() const { return cfg_; }
  const ParamGroups& groups() const { return groups_; }
  std::vector<torch::Tensor> params() const { return groups_.all(); }
  torch::optim::AdamW& optimizer() { return *opt_; }

  // trainer_state.json + trainer_state.pt inside a checkpoint folder.
  void save_state(const std::string& dir) { save_trainer_state(dir, state_, *opt_); }
  void load_state(const std::string& dir) { state_ = load_trainer_state(dir, *opt_); }

 private:
  TrainConfig cfg_;
  ParamGroups groups_;
  std::unique_ptr<torch::optim::AdamW> opt_;
  TrainerState state_;
};

}  // namespace rlhf
