// PpoConfig validation and JSON round trip.
#include "rlhf/rl/ppo_config.h"

#include "rlhf/io/error.h"
#include "rlhf/rl/losses.h"

namespace rlhf::rl {

Algo parse_algo(const std::string& name) {
  if (name == "ppo") return Algo::Ppo;
  if (name == "rloo") return Algo::Rloo;
  if (name == "grpo") return Algo::Grpo;
  if (name == "reinforce") return Algo::Reinforce;
  throw Error("--algo: unknown algorithm \"" + name + "\" (allowed: ppo|rloo|grpo|reinforce)");
}

std::string to_string(Algo a) {
  switch (a) {
    case Algo::Ppo: return "ppo";
    case Algo::Rloo: return "rloo";
    case Algo::Grpo: return "grpo";
    case Algo::Reinforce: return "reinforce";
  }
  return "ppo";
}

namespace {
void need(bool ok, const std::string& msg) {
  if (!ok) throw Error(msg);
}
}  // namespace

void PpoConfig::validate() const {
  Algo a = parse_algo(algo);
  need(iterations >= 1, "--iterations: must be >= 1");
  need(batch_prompts >= 1, "--batch-prompts: must be >= 1");
  need(samples_per_prompt >= 1, "--samples-per-prompt: must be >= 1");
  if (a == Algo::Rloo || a == Algo::Grpo)
    need(samples_per_prompt >= 2, "--samples-per-prompt: " + algo +
                                      " needs >= 2 samples per prompt (its baseline is the group); pass e.g. "
                                      "--samples-per-prompt 4");
  need(max_prompt_tokens >= 1, "--max-prompt-tokens: must be >= 1");
  need(max_new_tokens >= 1, "--max-new-tokens: must be >= 1");
  need(temperature > 0, "--temperature: must be > 0 (greedy decoding has no log-probs to optimise)");
  need(top_k >= 0, "--top-k: must be >= 0");
  need(top_p > 0 && top_p <= 1, "--top-p: must be in (0, 1]");
  need(gen_backend == "auto" || gen_backend == "fast" || gen_backend == "torch",
       "--gen-backend: must be auto|fast|torch");
  parse_kl_estimator(kl_estimator);
  need(kl_coef >= 0, "--kl-coef: must be >= 0");
  need(kl_target >= 0, "--kl-target: must be >= 0 (0 = fixed beta)");
  need(kl_horizon > 0, "--kl-horizon: must be > 0");
  need(reward_clip >= 0, "--reward-clip: must be >= 0 (0 = off)");
  need(gamma >= 0 && gamma <= 1, "--gamma: must be in [0, 1]");
  need(lam >= 0 && lam <= 1, "--lam: must be in [0, 1]");
  need(ppo_epochs >= 1, "--ppo-epochs: must be >= 1");
  need(mini_batch >= 1, "--mini-batch: must be >= 1");
  need(micro_batch >= 1 && micro_batch <= mini_batch, "--micro-batch: must be in [1, --mini-batch]");
  need(mini_batch % micro_batch == 0, "--mini-batch must be a multiple of --micro-batch");
  need(clip_eps > 0, "--clip-eps: must be > 0");
  need(value_clip_eps >= 0, "--value-clip-eps: must be >= 0 (0 = off)");
  need(vf_coef >= 0, "--vf-coef: must be >= 0");
  need(entropy_coef >= 0, "--entropy-coef: must be >= 0");
  need(ptx_coef >= 0, "--ptx-coef: must be >= 0");
  need(ptx_batch >= 1, "--ptx-batch: must be >= 1");
  need(sample_every >= 0 && samples_per_log >= 0, "--sample-every / --samples-per-log: must be >= 0");
  need(ratio_check_tol > 0, "--ratio-check-tol: must be > 0");
  need(replay_max_mb >= 0, "--replay-max-mb: must be >= 0");
  need(replay_check_rows >= 1, "--replay-check-rows: must be >= 1");
  need(eval_every >= 0, "--eval-every: must be >= 0");
  need(eval_prompts >= 1, "--eval-prompts: must be >= 1");
  need(eval_samples >= 1, "--eval-samples: must be >= 1");
  need(!group_center || samples_per_prompt >= 2,
       "--group-center: needs >= 2 samples per prompt (the group mean is the baseline); pass e.g. --samples-per-prompt 2");
}

nlohmann::json PpoConfig::to_json() const {
  return {{"algo", algo},
          {"iterations", iterations},
          {"batch_prompts", batch_prompts},
          {"samples_per_prompt", samples_per_prompt},
          {"max_prompt_tokens", max_prompt_tokens},
          {"max_new_tokens", max_new_tokens},
          {"temperature", temperature},
          {"top_k", top_k},
          {"top_p", top_p},
          {"gen_backend", gen_backend},
          {"kl_estimator", kl_estimator},
          {"kl_coef", kl_coef},
          {"kl_target", kl_target},
          {"kl_horizon", kl_horizon},
          {"normalize_reward", normalize_reward},
          {"reward_clip", reward_clip},
          {"group_center", group_center},
          {"missing_eos_penalty", missing_eos_penalty},
          {"gamma", gamma},
          {"lam", lam},
          {"whiten_advantages", whiten_advantages},
          {"ppo_epochs", ppo_epochs},
          {"mini_batch", mini_batch},
          {"micro_batch", micro_batch},
          {"clip_eps", clip_eps},
          {"value_clip_eps", value_clip_eps},
          {"vf_coef", vf_coef},
          {"entropy_coef", entropy_coef},
          {"reuse_first_forward", reuse_first_forward},
          {"replay_generation", replay_generation},
          {"replay_max_mb", replay_max_mb},
          {"replay_check_rows", replay_check_rows},
          {"ptx_coef", ptx_coef},
          {"ptx_batch", ptx_batch},
          {"sample_every", sample_every},
          {"samples_per_log", samples_per_log},
          {"ratio_check_tol", ratio_check_tol},
          {"eval_every", eval_every},
          {"eval_prompts", eval_prompts},
          {"eval_samples", eval_samples},
          {"seed", seed}};
}

PpoConfig PpoConfig::from_json(const nlohmann::json& j) {
  PpoConfig c;
  auto get = [&](const char* k, auto& v) {
    if (j.contains(k)) v = j.at(k).get<std::decay_t<decltype(v)>>();
  };
  get("algo", c.algo); get("iterations", c.iterations); get("batch_prompts", c.batch_prompts);
  get("samples_per_prompt", c.samples_per_prompt); get("max_prompt_tokens", c.max_prompt_tokens);
  get("max_new_tokens", c.max_new_tokens); get("temperature", c.temperature); get("top_k", c.top_k);
  get("top_p", c.top_p); get("gen_backend", c.gen_backend); get("kl_estimator", c.kl_estimator);
  get("kl_coef", c.kl_coef); get("kl_target", c.kl_target); get("kl_horizon", c.kl_horizon);
  get("normalize_reward", c.normalize_reward); get("reward_clip", c.reward_clip);
  get("group_center", c.group_center);
  get("missing_eos_penalty", c.missing_eos_penalty); get("gamma", c.gamma); get("lam", c.lam);
  get("whiten_advantages", c.whiten_advantages); get("ppo_epochs", c.ppo_epochs); get("mini_batch", c.mini_batch);
  get("micro_batch", c.micro_batch); get("clip_eps", c.clip_eps); get("value_clip_eps", c.value_clip_eps);
  get("vf_coef", c.vf_coef); get("entropy_coef", c.entropy_coef); get("ptx_coef", c.ptx_coef);
  get("reuse_first_forward", c.reuse_first_forward);
  get("replay_generation", c.replay_generation); get("replay_max_mb", c.replay_max_mb);
  get("replay_check_rows", c.replay_check_rows);
  get("ptx_batch", c.ptx_batch); get("sample_every", c.sample_every); get("samples_per_log", c.samples_per_log);
  get("ratio_check_tol", c.ratio_check_tol); get("eval_every", c.eval_every); get("eval_prompts", c.eval_prompts);
  get("eval_samples", c.eval_samples);
  get("seed", c.seed);
  return c;
}

}  // namespace rlhf::rl
