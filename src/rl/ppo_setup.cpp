// PPO flags and model loading: policy + frozen reference, value model, rewards, ptx data.
#include "rlhf/rl/ppo_setup.h"

#include <iostream>

#include "rlhf/data/sft_dataset.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/reward/reward_model.h"
#include "rlhf/rl/rm_reward.h"
#include "rlhf/rl/rules.h"

namespace rlhf::rl {

void add_ppo_flags(Flags& f) {
  const PpoConfig d;
  auto s = [](auto v) { return std::to_string(v); };
  auto num = [](double v) {
    std::ostringstream ss;
    ss << v;
    return ss.str();
  };
  f.add("policy", "", "SFT checkpoint folder: the policy starts here and the frozen reference is a copy of it")
      .add("reference", "",
           "frozen reference for the KL penalty and the evaluation baseline (default: a copy of --policy); e.g. the "
           "SFT model when --policy continues an earlier run")
      .add_list("reward", "reward-model folder(s) (single or ensemble); several are combined by --combine")
      .add_choice("combine", "sum", {"sum", "gate"},
                  "several reward models: weighted sum, or Llama-2 gating (the safety model's score below --threshold)")
      .add_list("reward-weights", "sum: one weight per --reward (default all 1)")
      .add("threshold", "0.15", "gate: safety score below which the safety score is used (2nd --reward = safety)")
      .add("rm-weight", "1", "weight of the (combined) reward models in the total reward")
      .add("rules", "", "rule-based reward file (rule language in docs/ppo.md); added to the reward")
      .add("rules-weight", "1", "weight of the rule-based reward")
      .add_bool("gold-reward", "add the embedded world's gold judge as a reward (optimise the gold score directly)")
      .add("gold-weight", "1", "weight of the gold-judge reward")
      .add("value-init", "", "value model: a folder (trunk [+ score head]); default the first --reward, else --policy")
      .add("ptx-data", "", "PPO-ptx: SFT JSONL ({prompt, response}) for the language-modelling term")
      .add("prompts", "", "prompt JSONL ({\"prompt\"} per line) or world:train|world:val|world:test")
      .add("eval-prompts-from", "world:test", "held-out prompts for evaluation (gold judge needs world prompts)")
      .add("out", "", "run folder: checkpoints, final/, metrics.jsonl, samples.jsonl, eval.json")
      .add_bool("resume", "continue the run in --out from its newest checkpoint")
      .add_choice("algo", d.algo, {"ppo", "rloo", "grpo", "reinforce"},
                  "ppo (value model + GAE) or critic-free rloo / grpo / reinforce (cheaper)")
      .add("iterations", s(d.iterations), "rollout + update rounds")
      .add("batch-prompts", s(d.batch_prompts), "prompts per iteration")
      .add("samples-per-prompt", "0", "k responses per prompt; 0 = 1 for ppo/reinforce, 4 for rloo/grpo")
      .add("max-prompt-tokens", s(d.max_prompt_tokens), "prompts are cut from the left to this many tokens")
      .add("max-new-tokens", s(d.max_new_tokens), "response length limit")
      .add("temperature", num(d.temperature), "sampling temperature (1 = the policy itself)")
      .add("top-k", s(d.top_k), "top-k sampling; 0 = off")
      .add("top-p", num(d.top_p), "nucleus sampling; 1 = off")
      .add_choice("gen-backend", d.gen_backend, {"auto", "fast", "torch"}, "generation backend")
      .add_choice("kl-estimator", d.kl_estimator, {"k1", "k2", "k3"},
                  "per-token KL estimator: k1 = log(pi/ref) (unbiased), k2 = log^2/2, k3 = (ratio-1) - log ratio")
      .add("kl-coef", num(d.kl_coef), "beta: the KL penalty coefficient (initial value when adaptive)")
      .add("kl-target", num(d.kl_target), "> 0: adaptive beta toward this KL (nats per response); 0 = fixed beta")
      .add("kl-horizon", num(d.kl_horizon), "adaptive controller horizon (samples)")
      .add_bool("no-normalize-reward", "use raw reward-model scores (default: normalised by the stored mean/std)")
      .add("reward-clip", num(d.reward_clip), "clip scores to [-c, c]; 0 = off")
      .add_bool("group-center",
                "ppo: subtract each prompt's mean score over its --samples-per-prompt responses (needs k >= 2)")
      .add("missing-eos-penalty", num(d.missing_eos_penalty),
           "added to the score of responses that hit --max-new-tokens without an end token (e.g. -1)")
      .add("gamma", num(d.gamma), "discount")
      .add("lam", num(d.lam), "GAE lambda")
      .add_bool("no-whiten", "do not whiten PPO advantages")
      .add("ppo-epochs", s(d.ppo_epochs), "passes over each rollout batch")
      .add("mini-batch", s(d.mini_batch), "rows per optimiser step")
      .add("micro-batch", s(d.micro_batch), "rows per forward/backward (accumulation = mini / micro)")
      .add("clip-eps", num(d.clip_eps), "policy ratio clip")
      .add("value-clip-eps", num(d.value_clip_eps), "value clip; 0 = off")
      .add("vf-coef", num(d.vf_coef), "value-loss weight")
      .add("entropy-coef", num(d.entropy_coef), "entropy bonus weight; 0 = off")
      .add("ptx-coef", num(d.ptx_coef), "PPO-ptx coefficient (InstructGPT's gamma); needs --ptx-data")
      .add("ptx-batch", s(d.ptx_batch), "ptx sequences per optimiser step")
      .add("sample-every", s(d.sample_every), "write a few responses to samples.jsonl every N iterations (0 = never)")
      .add("samples-per-log", s(d.samples_per_log), "responses written each time")
      .add("ratio-check-tol", num(d.ratio_check_tol), "warn when generation's log-probs differ from the recomputed ones by more (under --dtype bf16: at least 0.05)")
      .add_bool("no-replay", "recompute the first optimiser step's policy forward instead of replaying the generator's recorded activations")
      .add("replay-max-mb", s(d.replay_max_mb), "memory for the generator's recorded activations per iteration (MiB); rows beyond it are recomputed")
      .add("replay-check-rows", s(d.replay_check_rows), "rows per iteration whose log-probs a plain forward recomputes to check generation against training when the update replays")
      .add("eval-every", s(d.eval_every), "held-out evaluation every N iterations (and at the end); 0 = end only")
      .add("eval-prompts", s(d.eval_prompts), "held-out prompts per evaluation")
      .add("eval-samples", s(d.eval_samples), "sampled responses per held-out prompt and model (averaged per prompt)")
      .add_bool("no-eval", "skip the held-out evaluation")
      .add("lr", "1e-5", "learning rate (policy and value)")
      .add("weight-decay", "0", "AdamW weight decay")
      .add("grad-clip", "1", "global gradient-norm clip; 0 = off")
      .add("warmup-steps", "0", "linear warm-up (optimiser steps)")
      .add("min-lr-ratio", "1", "cosine decay to lr * this over the run (1 = constant)")
      .add_choice("dtype", "fp32", {"fp32", "bf16"}, "training precision (bf16 matrix products, fp32 master weights)")
      .add("save-every", "0", "checkpoint every N iterations (and at the end); 0 = end only")
      .add("keep-checkpoints", "1", "intermediate checkpoints kept")
      .add("threads", "0", "intra-op threads; 0 = all cores")
      .add("seed", "0", "prompt order, sampling, mini-batch order");
}

PpoConfig ppo_config_from_flags(const Flags& f) {
  PpoConfig c;
  c.algo = f.str("algo");
  c.iterations = f.integer("iterations");
  c.batch_prompts = f.integer("batch-prompts");
  c.samples_per_prompt = f.integer("samples-per-prompt");
  if (c.samples_per_prompt == 0) c.samples_per_prompt = (c.algo == "rloo" || c.algo == "grpo") ? 4 : 1;
  c.max_prompt_tokens = f.integer("max-prompt-tokens");
  c.max_new_tokens = f.integer("max-new-tokens");
  c.temperature = f.num("temperature");
  c.top_k = f.integer("top-k");
  c.top_p = f.num("top-p");
  c.gen_backend = f.str("gen-backend");
  c.kl_estimator = f.str("kl-estimator");
  c.kl_coef = f.num("kl-coef");
  c.kl_target = f.num("kl-target");
  c.kl_horizon = f.num("kl-horizon");
  c.normalize_reward = !f.flag("no-normalize-reward");
  c.reward_clip = f.num("reward-clip");
  c.group_center = f.flag("group-center");
  c.missing_eos_penalty = f.num("missing-eos-penalty");
  c.gamma = f.num("gamma");
  c.lam = f.num("lam");
  c.whiten_advantages = !f.flag("no-whiten");
  c.ppo_epochs = f.integer("ppo-epochs");
  c.mini_batch = f.integer("mini-batch");
  c.micro_batch = f.integer("micro-batch");
  c.clip_eps = f.num("clip-eps");
  c.value_clip_eps = f.num("value-clip-eps");
  c.vf_coef = f.num("vf-coef");
  c.entropy_coef = f.num("entropy-coef");
  c.ptx_coef = f.num("ptx-coef");
  c.ptx_batch = f.integer("ptx-batch");
  c.sample_every = f.integer("sample-every");
  c.samples_per_log = f.integer("samples-per-log");
  c.ratio_check_tol = f.num("ratio-check-tol");
  c.replay_generation = !f.flag("no-replay");
  c.replay_max_mb = f.integer("replay-max-mb");
  c.replay_check_rows = f.integer("replay-check-rows");
  c.eval_every = f.integer("eval-every");
  c.eval_prompts = f.integer("eval-prompts");
  c.eval_samples = f.integer("eval-samples");
  c.seed = static_cast<uint64_t>(f.integer("seed"));
  c.validate();
  if (c.ptx_coef > 0 && f.str("ptx-data").empty()) throw Error("--ptx-coef > 0 needs --ptx-data FILE (SFT JSONL)");
  return c;
}

TrainConfig ppo_train_config_from_flags(const Flags& f) {
  TrainConfig t;
  t.lr = f.num("lr");
  t.weight_decay = f.num("weight-decay");
  t.grad_clip = f.num("grad-clip");
  t.warmup_steps = f.integer("warmup-steps");
  t.min_lr_ratio = f.num("min-lr-ratio");
  t.dtype = f.str("dtype");
  t.save_every = f.integer("save-every");
  t.keep_checkpoints = f.integer("keep-checkpoints");
  t.threads = static_cast<int>(f.integer("threads"));
  t.seed = static_cast<uint64_t>(f.integer("seed"));
  t.steps = 1;  // set by PpoTrainer from the run's shape
  return t;
}

PpoSources ppo_sources_from_flags(const Flags& f) {
  PpoSources s;
  s.policy = f.str("policy");
  if (s.policy.empty()) throw Error("--policy: required (the SFT checkpoint folder)");
  s.reference = f.str("reference");
  s.rewards = f.list("reward");
  s.combine = f.str("combine");
  for (const auto& w : f.list("reward-weights")) s.reward_weights.push_back(std::stod(w));
  s.gate_threshold = f.num("threshold");
  s.rm_weight = f.num("rm-weight");
  s.rules = f.str("rules");
  s.rules_weight = f.num("rules-weight");
  s.gold_reward = f.flag("gold-reward");
  s.gold_weight = f.num("gold-weight");
  s.value_init = f.str("value-init");
  s.ptx_data = f.str("ptx-data");
  if (s.rewards.empty() && s.rules.empty() && !s.gold_reward)
    throw Error("no reward: pass --reward DIR (reward model), --rules FILE and/or --gold-reward");
  return s;
}

namespace {
// The folder holding a single model for a reward-model path (member_0 of an ensemble).
std::string single_model_dir(const std::string& dir) {
  return reward::is_ensemble_dir(dir) ? io::join_path(dir, "member_0") : dir;
}
}  // namespace

PpoSetup build_ppo(const PpoConfig& cfg, const TrainConfig& opt, const PpoSources& src) {
  PpoSetup out;
  Checkpoint pol = load_checkpoint(src.policy);
  if (!pol.tokenizer) throw Error(src.policy + ": the policy checkpoint has no tokenizer files");
  PolicyModels m;
  m.policy = pol.model;
  if (src.reference.empty()) {
    m.reference = clone_transformer(pol.model);
  } else {
    Checkpoint ref = load_checkpoint(src.reference);
    const auto& a = ref.config;
    const auto& b = pol.config;
    if (a.vocab_size != b.vocab_size || a.arch != b.arch)
      throw Error("--reference " + src.reference + ": a " + a.arch + " model over " + std::to_string(a.vocab_size) +
                  " tokens, but the policy is a " + b.arch + " model over " + std::to_string(b.vocab_size) +
                  " (the KL compares both on the same tokens)");
    m.reference = ref.model;
  }
  if (cfg.critic()) {
    std::string from = src.value_init;
    if (from.empty()) from = src.rewards.empty() ? src.policy : single_model_dir(src.rewards[0]);
    Checkpoint v = load_checkpoint(from);
    if (v.config.vocab_size != pol.config.vocab_size)
      throw Error("--value-init " + from + ": vocabulary " + std::to_string(v.config.vocab_size) +
                  " differs from the policy's " + std::to_string(pol.config.vocab_size));
    m.value_trunk = v.model;
    if (v.head) {
      m.value_head = v.head;
    } else {
      torch::manual_seed(cfg.seed + 17);
      m.value_head = ScalarHead(v.config.d_model);
      torch::NoGradGuard ng;
      m.value_head->proj->weight.normal_(0, 1.0 / std::sqrt(double(v.config.d_model) + 1));
      m.value_head->proj->bias.zero_();
    }
    out.value_from = from + (v.head ? " (trunk + head)" : " (trunk, fresh head)");
  }
  auto total = std::make_shared<SumReward>();
  if (!src.rewards.empty()) {
    reward::CombineSpec spec;
    spec.rule = src.combine;
    spec.weights = src.reward_weights;
    spec.threshold = src.gate_threshold;
    auto rm = RewardModelReward::load(src.rewards, spec, cfg.normalize_reward);
    total->add(rm, src.rm_weight);
    out.rm = rm;
    // A value model initialised from the (single) reward model predicts its raw score; put its head
    // on the scale of the reward the optimiser sees, rm_weight * (raw - mean) / std, so the critic
    // starts calibrated instead of spending its first iterations on an offset.
    const auto& stats = rm->models()[0]->info(0).stats;
    if (cfg.critic() && src.value_init.empty() && src.rewards.size() == 1 && cfg.normalize_reward && stats.n > 0 &&
        stats.stdev > 0 && m.value_head) {
      torch::NoGradGuard ng;
      const double a = src.rm_weight / stats.stdev;
      m.value_head->proj->weight.mul_(a);
      m.value_head->proj->bias.sub_(stats.mean).mul_(a);
      out.value_from += ", head rescaled to the normalised reward";
    }
  }
  if (!src.rules.empty()) total->add(RuleReward::load(src.rules), src.rules_weight);
  if (src.gold_reward) total->add(make_gold_judge_reward(), src.gold_weight);
  out.trainer = std::make_unique<PpoTrainer>(cfg, opt, m, total, pol.tokenizer);
  if (!src.ptx_data.empty()) {
    data::ChatTemplate tpl;
    data::SkipReport skips;
    auto recs = data::read_sft_jsonl(src.ptx_data, tpl, &skips);
    auto ds = data::tokenize_sft(recs, *pol.tokenizer, pol.config.max_seq, src.ptx_data);
    out.trainer->set_ptx_data(std::move(ds.examples));
  }
  return out;
}

}  // namespace rlhf::rl
