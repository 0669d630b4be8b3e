// Policy-optimisation maths: KL estimators, GAE, clipped losses, RLOO/GRPO, KL control.
#include "rlhf/rl/losses.h"

#include <algorithm>

#include "rlhf/io/error.h"

namespace rlhf::rl {

torch::Tensor masked_mean(const torch::Tensor& x, const torch::Tensor& mask) {
  if (!mask.defined()) return x.mean();
  auto m = mask.to(x.scalar_type());
  return (x * m).sum() / m.sum().clamp_min(1);
}

torch::Tensor masked_var(const torch::Tensor& x, const torch::Tensor& mask) {
  auto m = mask.defined() ? mask.to(x.scalar_type()) : torch::ones_like(x);
  auto n = m.sum();
  auto mean = (x * m).sum() / n.clamp_min(1);
  auto sq = ((x - mean).pow(2) * m).sum();
  return sq / (n - 1).clamp_min(1);  // Bessel's correction
}

torch::Tensor whiten(const torch::Tensor& x, const torch::Tensor& mask, bool shift_mean, double eps) {
  auto mean = masked_mean(x, mask);
  auto var = masked_var(x, mask);
  auto out = (x - mean) * torch::rsqrt(var + eps);
  if (!shift_mean) out = out + mean;
  if (mask.defined()) out = out * mask.to(x.scalar_type());
  return out;
}

KlEstimator parse_kl_estimator(const std::string& name) {
  if (name == "k1") return KlEstimator::K1;
  if (name == "k2") return KlEstimator::K2;
  if (name == "k3") return KlEstimator::K3;
  throw Error("unknown KL estimator \"" + name + "\" (allowed: k1|k2|k3)");
}

torch::Tensor kl_per_token(const torch::Tensor& logp, const torch::Tensor& ref_logp, KlEstimator kind) {
  auto r = ref_logp - logp;  // log(ref / pi) at the sampled token
  switch (kind) {
    case KlEstimator::K1:
      return -r;
    case KlEstimator::K2:
      return 0.5 * r * r;
    case KlEstimator::K3:
      return torch::expm1(r) - r;
  }
  return -r;
}

GaeResult gae(const torch::Tensor& rewards, const torch::Tensor& values, const torch::Tensor& mask, double gamma,
              double lambda) {
  TORCH_CHECK(rewards.dim() == 2 && rewards.sizes() == values.sizes() && rewards.sizes() == mask.sizes(),
              "gae: rewards, values and mask must all be (B, T)");
  auto m = mask.to(torch::kFloat64);
  auto r = rewards.to(torch::kFloat64) * m;
  auto v = values.to(torch::kFloat64) * m;
  const int64_t T = rewards.size(1);
  auto adv = torch::zeros_like(r);
  auto last = torch::zeros({rewards.size(0)}, r.options());
  for (int64_t t = T - 1; t >= 0; --t) {
    // V_{t+1} counts only when token t+1 is real; past the end the episode is over.
    auto next_v = t + 1 < T ? v.select(1, t + 1) * m.select(1, t + 1) : torch::zeros_like(last);
    auto next_a = t + 1 < T ? last * m.select(1, t + 1) : torch::zeros_like(last);
    auto delta = r.select(1, t) + gamma * next_v - v.select(1, t);
    last = (delta + gamma * lambda * next_a) * m.select(1, t);
    adv.select(1, t).copy_(last);
  }
  GaeResult out;
  out.advantages = adv.to(rewards.scalar_type());
  out.returns = (adv + v).to(rewards.scalar_type()) * mask.to(rewards.scalar_type());
  return out;
}

PolicyLossResult policy_loss_clipped(const torch::Tensor& logp, const torch::Tensor& old_logp,
                                     const torch::Tensor& advantages, const torch::Tensor& mask, double clip_eps) {
  auto log_ratio = logp - old_logp;
  auto ratio = torch::exp(log_ratio);
  auto unclipped = -advantages * ratio;
  auto clipped = -advantages * torch::clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps);
  PolicyLossResult out;
  out.loss = masked_mean(torch::max(unclipped, clipped), mask);
  torch::NoGradGuard ng;
  out.clip_frac = masked_mean((clipped > unclipped).to(logp.scalar_type()), mask);
  out.approx_kl = masked_mean((ratio - 1) - log_ratio, mask);
  return out;
}

ValueLossResult value_loss_clipped(const torch::Tensor& values, const torch::Tensor& old_values,
                                   const torch::Tensor& returns, const torch::Tensor& mask, double clip_eps) {
  auto l1 = (values - returns).pow(2);
  ValueLossResult out;
  if (clip_eps <= 0) {
    out.loss = 0.5 * masked_mean(l1, mask);
    out.clip_frac = torch::zeros({}, values.options());
    return out;
  }
  auto v_clip = old_values + torch::clamp(values - old_values, -clip_eps, clip_eps);
  auto l2 = (v_clip - returns).pow(2);
  out.loss = 0.5 * masked_mean(torch::max(l1, l2), mask);
  torch::NoGradGuard ng;
  out.clip_frac = masked_mean((l2 > l1).to(values.scalar_type()), mask);
  return out;
}

torch::Tensor entropy_from_logits(const torch::Tensor& logits, const torch::Tensor& mask) {
  auto lp = torch::log_softmax(logits.to(torch::kFloat32), -1);
  auto ent = -(lp.exp() * lp).sum(-1);  // (B, T)
  return masked_mean(ent, mask);
}

double explained_variance(const torch::Tensor& values, const torch::Tensor& returns, const torch::Tensor& mask) {
  torch::NoGradGuard ng;
  auto var_r = masked_var(returns.to(torch::kFloat64), mask).item<double>();
  if (var_r <= 0) return 0.0;
  auto var_d = masked_var((returns - values).to(torch::kFloat64), mask).item<double>();
  return 1.0 - var_d / var_r;
}

torch::Tensor rloo_advantages(const torch::Tensor& scores) {
  TORCH_CHECK(scores.dim() == 2 && scores.size(1) >= 2, "rloo_advantages: scores must be (P, k) with k >= 2");
  const double k = static_cast<double>(scores.size(1));
  auto sum = scores.sum(1, /*keepdim=*/true);
  auto baseline = (sum - scores) / (k - 1);  // mean of the other k-1 samples
  return scores - baseline;
}

torch::Tensor center_per_group(const torch::Tensor& scores) {
  TORCH_CHECK(scores.dim() == 2 && scores.size(1) >= 2, "center_per_group: scores must be (P, k) with k >= 2");
  return scores - scores.mean(1, /*keepdim=*/true);
}

torch::Tensor grpo_advantages(const torch::Tensor& scores, double eps) {
  TORCH_CHECK(scores.dim() == 2 && scores.size(1) >= 2, "grpo_advantages: scores must be (P, k) with k >= 2");
  auto mean = scores.mean(1, true);
  auto std = scores.std(1, /*unbiased=*/true, /*keepdim=*/true);
  return (scores - mean) / (std + eps);
}

KlController::KlController(double init_beta, double target, double horizon)
    : beta_(init_beta), target_(target), horizon_(horizon) {
  if (init_beta < 0) throw Error("KL coefficient must be >= 0 (got " + std::to_string(init_beta) + ")");
  if (target > 0 && horizon <= 0) throw Error("adaptive KL control needs horizon > 0");
}

void KlController::update(double kl, int64_t n_samples) {
  if (!adaptive()) return;
  double e = std::clamp(kl / target_ - 1.0, -0.2, 0.2);
  beta_ *= 1.0 + e * static_cast<double>(n_samples) / horizon_;
}

}  // namespace rlhf::rl
