// Reward models: a transformer trunk + scalar head read at the last real token (the EOS after
// prompt + response), single or as an ensemble, with stored normalisation statistics. This is the
// class PPO and the pipeline call: load(dir), then score(prompts, responses).
//
// Folder layout: a single model is a normal checkpoint folder (config.json, model.safetensors
// holding the trunk + "score.weight"/"score.bias", tokenizer files) plus reward_config.json;
// an ensemble is a folder with member_0/, member_1/, ... (each a single model) and ensemble.json.
// Shapes: N = sequences, T = positions, C = d_model.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/data/preference.h"
#include "rlhf/model/config.h"
#include "rlhf/model/transformer.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf::reward {

// Trunk + head. forward() returns one reward per row, read at last_index.
//
// Optional likelihood term (`rlhf rm train --lm-coef`): reward = head(h_last) + c * sum of the
// log-probabilities of the response tokens (and the EOS) under the trunk's own LM head, with c a
// learned scalar. A small trunk fine-tuned on a few thousand comparisons loses much of what it
// knew as a language model (which answer is right); the term keeps that knowledge in the
// reward's reach. Costs one LM-head projection per position.
//
// How the log-probabilities enter (`--lm-mode`, LmMode): `sum` (the plain sequence
// log-likelihood; every extra token lowers it, so a policy optimised against it learns to answer
// short), `mean` (per response token, EOS included: no length incentive), `ref` (the sum minus the
// same sum under a frozen reference model, usually the checkpoint the trunk started from: the
// DPO-style implicit reward c * log(p_RM / p_ref), zero wherever preference training left the
// language model unchanged).
enum class LmMode { Sum, Mean, Ref };
LmMode parse_lm_mode(const std::string& name);  // "sum" | "mean" | "ref"; throws naming --lm-mode
std::string to_string(LmMode m);

class RewardNetImpl : public torch::nn::Module {
 public:
  explicit RewardNetImpl(const ModelConfig& cfg);
  // Adopts an existing trunk and head (e.g. from load_checkpoint) without copying.
  RewardNetImpl(Transformer trunk, ScalarHead head);
  // tokens (N, T) int64, last_index (N) int64 -> rewards (N) float. response_start (N) int64, the
  // position of each row's first response token, is required when the likelihood term is on.
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& last_index,
                        const torch::Tensor& response_start = {});
  // Turns the likelihood term on with coefficient `init` (a registered, trainable parameter).
  void enable_lm_term(double init, LmMode mode = LmMode::Sum);
  bool has_lm_term() const { return lm_coef_.defined(); }
  double lm_coef() const;  // 0 when off
  LmMode lm_mode() const { return lm_mode_; }
  // The frozen reference of LmMode::Ref (not a registered submodule: neither trained nor saved
  // with the reward model). Required before forward() in that mode.
  void set_lm_reference(Transformer ref);
  bool has_lm_reference() const { return !lm_ref_.is_empty(); }
  Transformer trunk{nullptr};
  ScalarHead head{nullptr};

 private:
  // Sum over response tokens (start <= t <= last) of log p(t | <t) under `lm`, (N) float; h are
  // lm's hidden states of `tokens`.
  torch::Tensor response_logprob(Transformer& lm, const torch::Tensor& h, const torch::Tensor& tokens,
                                 const torch::Tensor& in_response);
  torch::Tensor lm_coef_;  // () float, undefined when the term is off
  LmMode lm_mode_ = LmMode::Sum;
  Transformer lm_ref_{nullptr};
};
TORCH_MODULE(RewardNet);

// Mean and std of a model's raw rewards on a reference set: normalised = (r - mean) / std.
struct RewardStats {
  double mean = 0.0;       // raw reward mean on the reference set
  double stdev = 1.0;      // raw reward standard deviation (population) on the reference set
  int64_t n = 0;           // responses in the reference set; 0 = never measured (identity normalisation)
  std::string reference;   // what the reference set was ("train responses", a file name)
  nlohmann::json to_json() const;
  static RewardStats from_json(const nlohmann::json& j, const std::string& where);
};

// reward_config.json: how a single reward model was made and how to normalise its scores.
struct RewardModelInfo {
  RewardStats stats;                 // normalisation
  std::string loss = "pairwise";     // ranking loss used ("pairwise" | "plackett-luce")
  std::string ties = "ignore";       // tie handling used
  double margin_scale = 0.0;         // margin = margin_scale * record margin/strength
  double center_coef = 0.0;          // centring penalty weight used
  int64_t max_len = 0;               // longest input used in training (prompt cut from the left)
  bool lm_term = false;              // reward includes lm_coef * response log-likelihood (RewardNetImpl)
  double lm_coef = 0.0;              // its learned coefficient
  std::string lm_mode = "sum";       // how the log-likelihood enters: sum | mean | ref (LmMode)
  std::string lm_reference;          // ref mode: the reference checkpoint folder (empty = `base`)
  std::string base;                  // checkpoint the trunk was initialised from
  uint64_t seed = 0;                 // training seed
  nlohmann::json to_json() const;
  static RewardModelInfo from_json(const nlohmann::json& j, const std::string& where);
};

// Writes a single reward model folder (checkpoint files + reward_config.json), atomically per file.
void save_reward_model(const std::string& dir, RewardNet& net, const Tokenizer& tok, const RewardModelInfo& info);
// Loads trunk + head weights from a single reward-model folder into `net` (built from its config).
// Throws rlhf::Error naming the folder when score.weight/score.bias are missing.
void load_reward_weights(const std::string& dir, RewardNet& net);
// Initialises a RewardNet from any checkpoint folder (usually the SFT model): trunk weights from
// it; the head from it when it is a reward model, else a fresh head (N(0, 1/(C+1)) weights, zero
// bias), seeded by `seed`.
RewardNet init_reward_net(const std::string& checkpoint_dir, uint64_t seed, bool* head_loaded = nullptr);
// Whether `dir` is an ensemble folder (has ensemble.json).
bool is_ensemble_dir(const std::string& dir);
// Writes ensemble.json for members already saved under dir/member_<i>.
void write_ensemble_manifest(const std::string& dir, int members, const nlohmann::json& extra = {});

// Per-item results of scoring.
struct Scores {
  std::vector<double> mean;        // mean over members of the raw reward
  std::vector<double> stdev;       // population std over members of the raw reward (0 for one member)
  std::vector<double> normalized;  // mean over members of (raw - member mean) / member std
  std::vector<double> normalized_std;  // std over members of the normalised rewards
  std::vector<std::vector<double>> members;  // [member][item] raw rewards
};

class RewardModel {
 public:
  // Loads a single model or an ensemble folder onto `device`, in eval mode.
  static RewardModel load(const std::string& dir, const std::string& device = "cpu");
  // Wraps already-built members (tests, the trainer); all must share `tok`'s vocabulary.
  RewardModel(std::vector<RewardNet> members, std::vector<RewardModelInfo> infos, std::shared_ptr<Tokenizer> tok,
              int64_t max_len);

  // Scores prompt + response pairs in batches of `batch_size` (sorted by length inside, results
  // in input order). No gradients.
  Scores score(const std::vector<std::string>& prompts, const std::vector<std::string>& responses,
               int64_t batch_size = 32) const;
  // Raw rewards (N) of already tokenized inputs for member m (no grad).
  // `starts` (one per sequence): where each response begins (needed by the likelihood term).
  std::vector<double> score_tokens(const std::vector<std::vector<int64_t>>& seqs, int member,
                                   int64_t batch_size = 32, const std::vector<int64_t>* starts = nullptr) const;

  int size() const { return static_cast<int>(members_.size()); }
  const RewardModelInfo& info(int member = 0) const { return infos_.at(member); }
  const std::shared_ptr<Tokenizer>& tokenizer() const { return tok_; }
  int64_t max_len() const { return max_len_; }
  RewardNet& member(int m) { return members_.at(m); }

 private:
  std::vector<RewardNet> members_;
  std::vector<RewardModelInfo> infos_;
  std::shared_ptr<Tokenizer> tok_;
  int64_t max_len_ = 512;
  torch::Device device_ = torch::kCPU;
};

// Scores every response of every group: mean[g][i] and std[g][i] (ensemble disagreement) of
// groups[g].responses[i]; normalized when `normalized` (each member's stored statistics).
struct GroupScores {
  std::vector<std::vector<double>> mean, stdev;
};
GroupScores score_groups(const RewardModel& model, const std::vector<data::PreferenceGroup>& groups,
                         int64_t batch_size = 32, bool normalized = false);

}  // namespace rlhf::reward
