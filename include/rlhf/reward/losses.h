// Reward-model losses as free functions from reward tensors to loss tensors: Bradley–Terry pairs
// (with an optional Llama-2-style margin), K-way rankings as all C(K,2) pairs (InstructGPT) or
// Plackett–Luce, ties (ignored or a tie loss), and the reward-centring penalty.
//
// Shapes: N = scored sequences in the batch (all responses of all groups, concatenated),
// P = pairs.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace rlhf::reward {

enum class RankingLoss {
  Pairwise,     // every pair of responses on different levels: -log σ(r_better - r_worse - margin)
  PlackettLuce  // -Σ_i log( e^(r_i - m) / (e^(r_i - m) + Σ_{j worse than i} e^(r_j)) )
};
enum class TieMode {
  Ignore,  // tied responses give no gradient toward either
  Loss     // tie loss: cross-entropy against a 0.5 target, ½(-log σ(d) - log σ(-d)), least at d = 0
};
RankingLoss parse_ranking_loss(const std::string& name);  // "pairwise" | "plackett-luce"
TieMode parse_tie_mode(const std::string& name);          // "ignore" | "loss"
std::string to_string(RankingLoss l);
std::string to_string(TieMode t);

// Per-pair Bradley–Terry loss, mean over P: -log σ(r_chosen - r_rejected - margin).
// r_chosen, r_rejected: (P); margin: (P) or undefined (= 0).
torch::Tensor bradley_terry_loss(const torch::Tensor& r_chosen, const torch::Tensor& r_rejected,
                                 const torch::Tensor& margin = {});
// Tie loss, mean over P: ½(softplus(-(r_a - r_b)) + softplus(r_a - r_b)); equals log 2 at r_a == r_b.
torch::Tensor tie_loss(const torch::Tensor& r_a, const torch::Tensor& r_b);

// Where one group's rewards sit in the (N) reward vector and how its responses were ranked.
struct GroupSpec {
  int64_t offset = 0;      // rewards[offset + i] scores response i
  std::vector<int> level;  // rank level per response, 0 = best, equal = tied
  double margin = 0.0;     // required gap for every strict pair (already scaled)
};

struct LossOptions {
  RankingLoss ranking = RankingLoss::Pairwise;  // how groups with K > 2 (and pairs) are scored
  TieMode ties = TieMode::Ignore;               // what tied responses contribute
  double center_coef = 0.0;                     // weight of the centring penalty; 0 = off
};

struct LossParts {
  torch::Tensor total;       // preference + centring, scalar; what backward() runs on
  torch::Tensor preference;  // mean over groups of each group's mean pair (or PL) term
  torch::Tensor centering;   // center_coef * mean over groups of (mean reward of the group)^2
  torch::Tensor preference_sum;  // sum of the group terms (the shared loop's MicroLoss.sum wants sums)
  torch::Tensor centering_sum;   // center_coef * sum over groups of (mean reward of the group)^2
  int64_t groups_with_terms = 0; // groups that contributed a preference term
  int64_t strict_pairs = 0;  // pairs on different levels in the batch
  int64_t correct_pairs = 0; // of those, pairs with r_better > r_worse (no margin)
  int64_t tie_pairs = 0;     // tied pairs in the batch
};

// The loss of one batch. rewards: (N), requires grad. Each group's term is the mean over its pairs
// (Pairwise; tie pairs count when TieMode::Loss) or its Plackett–Luce terms (one per response that
// has a worse one; tied responses stay out of each other's denominators), so a K-way ranking weighs
// as much as a pair (InstructGPT's 1/C(K,2)). Groups with no term (only ties, ignored) are left out
// of the mean; a batch with none gives 0 (still connected to `rewards`, so backward() works).
LossParts reward_loss(const torch::Tensor& rewards, const std::vector<GroupSpec>& groups, const LossOptions& opts);

}  // namespace rlhf::reward
