// The shared optimizer step: accumulation, bf16 precision, clipping, AdamW, NaN/Inf stop.
#include "rlhf/train/trainer.h"

#include <ATen/autocast_mode.h>
#include <ATen/record_function.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include "kernels/train_ops.h"
#include "kernels/train_ops_bf16.h"

namespace rlhf {

AutocastGuard::AutocastGuard(bool on) : on_(on) {
  if (!on_) return;
  // The fused training operators do their own bf16 matmuls where they apply (RLHF_TRAIN_OPS not 0,
  // and not already inside an outer autocast region); the Transformer lifts autocast around them.
  // Autocast covers everything else.
  if (kernels::train_ops_enabled() && !at::autocast::is_cpu_enabled())
    matmul_ = std::make_unique<kernels::TrainMatmulDtypeGuard>(at::kBFloat16);
  prev_enabled_ = at::autocast::is_cpu_enabled();
  prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!on_) return;
  // Leaving the outermost region frees the bf16 weight copies autocast cached for this step.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_cpu_enabled(prev_enabled_);
  at::autocast::set_autocast_cpu_dtype(prev_dtype_);
}

Trainer::Trainer(const NamedParams& params, const TrainConfig& cfg)
    : cfg_(cfg), groups_(split_param_groups(params)) {
  cfg_.validate();
  if (groups_.decay.empty() && groups_.no_decay.empty())
    throw Error("Trainer: the model has no trainable parameters (all have requires_grad == false)");
  opt_ = make_adamw(groups_, cfg_);
  state_.seed = cfg_.seed;
}

StepStats Trainer::step(const MicroLossFn& micro) {
  auto t0 = std::chrono::steady_clock::now();
  const int64_t step_no = state_.step + 1;
  StepStats s;
  s.step = step_no;
  s.lr = lr_at(cfg_, state_.step);
  set_lr(*opt_, s.lr);
  const auto params = groups_.all();
  for (const auto& p : params) p.mutable_grad() = torch::Tensor();  // set_to_none: no stale zeros

  // Under bf16 the fused linear layers make one bf16 copy of each weight per step: a matmul-dtype
  // region (the dtype unchanged; each micro-batch's AutocastGuard nests in it) keeps the copies
  // across micro-batches and drops them before the optimizer updates the weights.
  std::optional<kernels::TrainMatmulDtypeGuard> weight_copies;
  if (cfg_.dtype == "bf16") weight_copies.emplace(kernels::train_matmul_dtype());
  double loss_sum = 0, units = 0;
  for (int64_t m = 0; m < cfg_.grad_accum; ++m) {
    MicroLoss ml;
    {
      AutocastGuard cast(cfg_.dtype == "bf16");
      ml = micro(m);
    }
    if (!ml.sum.defined() || ml.sum.numel() != 1)
      throw Error("step " + std::to_string(step_no) + ": the loss closure must return a scalar sum");
    double l = ml.sum.item<double>();
    if (!std::isfinite(l)) {
      std::ostringstream ss;
      ss << "step " << step_no << ": the loss is " << l << " (micro-batch " << m << "); stopping before the update";
      throw NonFiniteError(ss.str(), step_no);
    }
    if (ml.count > 0 && ml.sum.requires_grad()) {
      RECORD_FUNCTION("rlhf::backward", std::vector<c10::IValue>());
      ml.sum.backward();
    }
    loss_sum += l;
    units += ml.count;
    s.tokens += ml.tokens;
  }
  weight_copies.reset();
  if (units <= 0)
    throw Error("step " + std::to_string(step_no) +
                ": no loss units in the whole step (every target masked?); check the data's masks");
  // The 1/units average and the clipping factor are applied inside the AdamW pass (.grad itself is
  // left as accumulated): the gradients are read once for the norm and once for the update.
  RECORD_FUNCTION("rlhf::optimizer", std::vector<c10::IValue>());
  s.grad_norm = grad_norm(params) / units;
  if (!std::isfinite(s.grad_norm)) {
    std::ostringstream ss;
    ss << "step " << step_no << ": the gradient norm is " << s.grad_norm << " (loss " << loss_sum / units
       << "); stopping before the update";
    throw NonFiniteError(ss.str(), step_no);
  }
  double factor = 1.0 / units;
  if (cfg_.grad_clip > 0 && s.grad_norm > cfg_.grad_clip) factor *= cfg_.grad_clip / (s.grad_norm + 1e-6);
  adamw_step(*opt_, factor);
  s.loss = loss_sum / units;
  state_.step = step_no;
  state_.tokens_seen += s.tokens;
  state_.last_loss = s.loss;
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace rlhf
