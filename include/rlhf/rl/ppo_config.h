// PpoConfig: every setting of policy optimisation (PPO and the critic-free RLOO / GRPO /
// REINFORCE), with its default and trade-off; validate() throws naming the flag and the fix.
// The optimiser's own settings (lr, weight decay, clipping, dtype) live in TrainConfig.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace rlhf::rl {

enum class Algo { Ppo, Rloo, Grpo, Reinforce };
Algo parse_algo(const std::string& name);  // "ppo" | "rloo" | "grpo" | "reinforce"; throws rlhf::Error
std::string to_string(Algo a);

struct PpoConfig {
  std::string algo = "ppo";          // ppo (critic + GAE) | rloo | grpo | reinforce (critic-free: no value model)
  int64_t iterations = 100;          // rollout + update rounds
  int64_t batch_prompts = 16;        // prompts sampled per iteration
  int64_t samples_per_prompt = 1;    // k responses per prompt; rloo/grpo need >= 2 (their baseline is the group)
  int64_t max_prompt_tokens = 192;   // prompts longer than this (or than max_seq - max_new_tokens) are cut from the left
  // --- sampling
  int64_t max_new_tokens = 48;       // response length limit (end token included)
  double temperature = 1.0;          // 1 = sample from the policy itself (PPO's importance ratios assume it)
  int64_t top_k = 0;                 // 0 = off
  double top_p = 1.0;                // 1 = off
  std::string gen_backend = "auto";  // generation backend: auto | fast | torch
  // --- KL to the reference
  std::string kl_estimator = "k1";   // per-token estimator in the reward: k1 (unbiased), k2, k3 (unbiased, >= 0)
  double kl_coef = 0.05;             // beta: initial (adaptive) or fixed KL coefficient
  double kl_target = 0.0;            // > 0: Ziegler et al.'s adaptive controller toward this KL (nats/sequence)
  double kl_horizon = 10000;         // adaptive controller horizon in samples (larger = slower beta changes)
  // --- reward shaping
  bool normalize_reward = true;      // reward models: use their stored mean/std (score = (r - mean) / std)
  double reward_clip = 5.0;          // clip scores to [-c, c] after normalisation; 0 = off
  bool group_center = false;         // PPO: subtract each prompt's mean shaped score over its k samples (k >= 2)
  double missing_eos_penalty = 0.0;  // added to the score of responses that hit the limit without an end token (e.g. -1)
  // --- advantages and losses
  double gamma = 1.0;                // discount per token
  double lam = 0.95;                 // GAE lambda (1 = Monte-Carlo returns, 0 = one-step TD)
  bool whiten_advantages = true;     // normalise advantages to mean 0, std 1 over the batch's tokens
  int64_t ppo_epochs = 4;            // passes over each rollout batch (more = more sample reuse, more drift)
  int64_t mini_batch = 8;            // rows per optimiser step
  int64_t micro_batch = 8;           // rows per forward/backward (gradient accumulation = mini / micro)
  double clip_eps = 0.2;             // policy ratio clip (1 +- eps)
  double value_clip_eps = 0.2;       // value clip around the rollout's values; 0 = off
  double vf_coef = 0.1;              // weight of the value loss in the joint loss
  double entropy_coef = 0.0;         // entropy bonus weight (0 = off; > 0 keeps exploring)
  // The first optimiser step's first micro-batch is forwarded once, with autograd, in the
  // reference/value phase and its graph serves the update (same weights, same result, one value
  // forward and under bf16 one policy forward fewer per micro-batch). false = the plain order
  // (tests compare the two).
  bool reuse_first_forward = true;
  // The first optimiser step's policy forward is replayed from the activations the decode engine
  // recorded while generating those rows (same tokens, same weights): no products, the same graph
  // (TransformerImpl::hidden_replay). Needs the fast generation backend and the GPT-2 layout;
  // recordings beyond replay_max_mb (per iteration) fall back to the plain forward. The
  // generation/recompute check then runs on replay_check_rows rows by a plain forward.
  bool replay_generation = true;
  int64_t replay_max_mb = 4096;
  int64_t replay_check_rows = 1;
  // --- PPO-ptx (InstructGPT): language-modelling loss on SFT/pretraining data
  double ptx_coef = 0.0;             // gamma of PPO-ptx; 0 = off (needs --ptx-data)
  int64_t ptx_batch = 4;             // sequences of ptx data per optimiser step
  // --- logging, checks, evaluation
  int64_t sample_every = 10;         // write samples.jsonl entries every N iterations (0 = never)
  int64_t samples_per_log = 3;       // responses written each time
  double ratio_check_tol = 1e-3;     // warn when recomputed log-probs differ from generation's by more (nats)
  int64_t eval_every = 0;            // held-out evaluation (RM and gold where available) every N iterations; 0 = end only
  int64_t eval_prompts = 64;         // held-out prompts per evaluation
  int64_t eval_samples = 1;          // sampled responses per held-out prompt and model (averaged per prompt)
  uint64_t seed = 0;                 // prompt order, sampling and mini-batch order

  bool critic() const { return algo == "ppo"; }
  void validate() const;
  nlohmann::json to_json() const;
  static PpoConfig from_json(const nlohmann::json& j);
};

}  // namespace rlhf::rl
