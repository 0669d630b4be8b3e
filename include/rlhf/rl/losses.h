// The maths of policy optimisation as free functions from tensors to tensors: KL estimators,
// GAE, whitening, clipped policy/value losses, critic-free advantages (RLOO, GRPO) and the
// adaptive KL controller. Trainers orchestrate; the maths lives here, unit-tested by hand.
//
// Shapes: B = sequences, T = response tokens. `mask` (B, T) is 1 for real response tokens and
// 0 for padding and anything after the end token; every reduction below respects it.
#pragma once
#include <torch/torch.h>

#include <string>

namespace rlhf::rl {

// Mean of x over mask==1 entries (all of x when mask is undefined). Scalar tensor.
torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask);
// Unbiased variance over mask==1 entries.
torch::Tensor masked_var(const torch::Tensor& x, const torch::Tensor& mask);
// (x - mean) / sqrt(var + eps) over the masked entries; masked-out entries become 0.
// shift_mean=false keeps the mean (scales only), as some PPO variants do for rewards.
torch::Tensor whiten(const torch::Tensor& x, const torch::Tensor& mask, bool shift_mean = true, double eps = 1e-8);

// Per-token KL(pi || ref) estimates from log-probs of the SAMPLED tokens (sampled from pi).
// With r = ref_logp - logp (log ratio ref/pi):
//   k1 = -r                    unbiased, high variance, can be negative per token
//   k2 = r^2 / 2               biased, low variance, always >= 0
//   k3 = (exp(r) - 1) - r      unbiased, low variance, always >= 0 (Schulman's estimator)
enum class KlEstimator { K1, K2, K3 };
KlEstimator parse_kl_estimator(const std::string& name);  // "k1" | "k2" | "k3"; throws rlhf::Error
torch::Tensor kl_per_token(const torch::Tensor& logp, const torch::Tensor& ref_logp, KlEstimator kind);

struct GaeResult {
  torch::Tensor advantages;  // (B, T), 0 where mask == 0
  torch::Tensor returns;     // (B, T) = advantages + values
};
// Generalised advantage estimation (Schulman et al. 2016) over each row's masked tokens:
//   delta_t = r_t + gamma * V_{t+1} - V_t   (V after the last real token = 0)
//   A_t = delta_t + gamma * lambda * A_{t+1}
// rewards, values, mask: (B, T). Masked tokens must form a prefix of each row.
GaeResult gae(const torch::Tensor& rewards, const torch::Tensor& values, const torch::Tensor& mask, double gamma,
              double lambda);

struct PolicyLossResult {
  torch::Tensor loss;       // scalar, differentiable w.r.t. logp
  torch::Tensor clip_frac;  // scalar: share of tokens where the clipped branch was taken
  torch::Tensor approx_kl;  // scalar: mean of (ratio - 1) - log ratio (k3 of old||new)
};
// PPO's clipped surrogate: mean over tokens of max(-A * ratio, -A * clip(ratio, 1-eps, 1+eps)),
// ratio = exp(logp - old_logp).
PolicyLossResult policy_loss_clipped(const torch::Tensor& logp, const torch::Tensor& old_logp,
                                     const torch::Tensor& advantages, const torch::Tensor& mask, double clip_eps);

struct ValueLossResult {
  torch::Tensor loss;       // scalar: 0.5 * mean(max((v - R)^2, (v_clipped - R)^2))
  torch::Tensor clip_frac;  // scalar: share of tokens where the clipped branch was larger
};
// Clipped value loss: v_clipped = old_v + clip(v - old_v, -eps, eps). eps <= 0 disables clipping.
ValueLossResult value_loss_clipped(const torch::Tensor& values, const torch::Tensor& old_values,
                                   const torch::Tensor& returns, const torch::Tensor& mask, double clip_eps);

// Mean entropy (nats) of the categorical distributions in logits (B, T, V), over the mask.
torch::Tensor entropy_from_logits(const torch::Tensor& logits, const torch::Tensor& mask);

// 1 - Var(returns - values) / Var(returns) over the mask (how much the critic explains).
double explained_variance(const torch::Tensor& values, const torch::Tensor& returns, const torch::Tensor& mask);

// Critic-free advantages for k samples per prompt. scores: (P, k) — row p holds the k samples
// of prompt p.
//  RLOO (Ahmadian et al. 2024): A_i = s_i - mean_{j != i} s_j.
//  GRPO (Shao et al. 2024): A_i = (s_i - mean(s)) / (std(s) + eps), std unbiased over the group.
torch::Tensor rloo_advantages(const torch::Tensor& scores);
// scores (P, k) -> scores minus their row (prompt group) mean: PPO's per-prompt centring
// (PpoConfig::group_center). A reward model compares responses to one prompt; its offsets across
// prompts carry little (docs/reward.md), and a value model would have to learn them per prompt.
torch::Tensor center_per_group(const torch::Tensor& scores);
torch::Tensor grpo_advantages(const torch::Tensor& scores, double eps = 1e-6);

// KL controllers (Ziegler et al. 2019). beta() is the current KL coefficient.
class KlController {
 public:
  // Fixed controller: target <= 0. Adaptive: target > 0 (nats per sequence), horizon in samples.
  KlController(double init_beta, double target, double horizon);
  double beta() const { return beta_; }
  double target() const { return target_; }
  bool adaptive() const { return target_ > 0; }
  // Adaptive update after a batch of n_samples with mean sequence KL `kl`:
  //   e = clip(kl / target - 1, -0.2, 0.2);  beta *= 1 + e * n_samples / horizon.
  void update(double kl, int64_t n_samples);
  void set_beta(double b) { beta_ = b; }  // for resume

 private:
  double beta_, target_, horizon_;
};

}  // namespace rlhf::rl
