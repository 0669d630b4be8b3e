// Reward-model losses: Bradley–Terry pairs with margins, rankings (all pairs or Plackett–Luce),
// ties and reward centring. Pair indices are enumerated on the CPU; the maths is batched tensors.
#include <algorithm>

#include "rlhf/io/error.h"
#include "rlhf/reward/losses.h"

namespace rlhf::reward {

namespace F = torch::nn::functional;

RankingLoss parse_ranking_loss(const std::string& name) {
  if (name == "pairwise") return RankingLoss::Pairwise;
  if (name == "plackett-luce" || name == "pl") return RankingLoss::PlackettLuce;
  throw Error("--ranking-loss: unknown value \"" + name + "\" (allowed: pairwise, plackett-luce)");
}
TieMode parse_tie_mode(const std::string& name) {
  if (name == "ignore") return TieMode::Ignore;
  if (name == "loss") return TieMode::Loss;
  throw Error("--ties: unknown value \"" + name + "\" (allowed: ignore, loss)");
}
std::string to_string(RankingLoss l) { return l == RankingLoss::Pairwise ? "pairwise" : "plackett-luce"; }
std::string to_string(TieMode t) { return t == TieMode::Ignore ? "ignore" : "loss"; }

torch::Tensor bradley_terry_loss(const torch::Tensor& r_chosen, const torch::Tensor& r_rejected,
                                 const torch::Tensor& margin) {
  TORCH_CHECK(r_chosen.sizes() == r_rejected.sizes(), "bradley_terry_loss: chosen/rejected shapes differ");
  auto d = r_chosen - r_rejected;  // (P)
  if (margin.defined()) d = d - margin.to(d.dtype());
  return F::softplus(-d).mean();  // softplus(-d) = -log σ(d), stable for large |d|
}

torch::Tensor tie_loss(const torch::Tensor& r_a, const torch::Tensor& r_b) {
  TORCH_CHECK(r_a.sizes() == r_b.sizes(), "tie_loss: shapes differ");
  auto d = r_a - r_b;
  return (0.5 * (F::softplus(-d) + F::softplus(d))).mean();
}

namespace {
// One group's loss term (scalar) or an undefined tensor when the group contributes nothing.
torch::Tensor group_pairwise(const torch::Tensor& r, const GroupSpec& g, TieMode ties, LossParts& parts) {
  std::vector<int64_t> hi, lo, ta, tb;
  size_t k = g.level.size();
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i + 1; j < k; ++j) {
      int64_t a = g.offset + i, b = g.offset + j;
      if (g.level[i] < g.level[j]) {
        hi.push_back(a), lo.push_back(b);
      } else if (g.level[j] < g.level[i]) {
        hi.push_back(b), lo.push_back(a);
      } else {
        ta.push_back(a), tb.push_back(b);
      }
    }
  parts.strict_pairs += hi.size();
  parts.tie_pairs += ta.size();
  auto idx = [&](const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong).to(r.device()); };
  torch::Tensor sum;
  int64_t terms = 0;
  if (!hi.empty()) {
    auto d = r.index_select(0, idx(hi)) - r.index_select(0, idx(lo));  // (P)
    parts.correct_pairs += (d > 0).sum().item<int64_t>();
    sum = F::softplus(-(d - g.margin)).sum();
    terms += hi.size();
  }
  if (ties == TieMode::Loss && !ta.empty()) {
    auto d = r.index_select(0, idx(ta)) - r.index_select(0, idx(tb));
    auto t = (0.5 * (F::softplus(-d) + F::softplus(d))).sum();
    sum = sum.defined() ? sum + t : t;
    terms += ta.size();
  }
  if (!terms) return {};
  return sum / static_cast<double>(terms);
}

torch::Tensor group_plackett_luce(const torch::Tensor& r, const GroupSpec& g, TieMode ties, LossParts& parts) {
  size_t k = g.level.size();
  auto rg = r.narrow(0, g.offset, k);  // (K)
  torch::Tensor sum;
  int64_t terms = 0;
  for (size_t i = 0; i < k; ++i) {
    std::vector<int64_t> worse;
    for (size_t j = 0; j < k; ++j)
      if (g.level[j] > g.level[i]) worse.push_back(j);
    if (worse.empty()) continue;
    // -log( e^(r_i - m) / (e^(r_i - m) + Σ_worse e^(r_j)) )
    auto top = rg[i] - g.margin;
    auto pool = torch::cat({top.unsqueeze(0), rg.index_select(0, torch::tensor(worse, torch::kLong).to(r.device()))});
    auto t = torch::logsumexp(pool, 0) - top;
    sum = sum.defined() ? sum + t : t;
    ++terms;
  }
  // Pair statistics (accuracy, tie count) are the same as for the pairwise loss.
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i + 1; j < k; ++j) {
      if (g.level[i] == g.level[j]) {
        ++parts.tie_pairs;
        continue;
      }
      ++parts.strict_pairs;
      size_t b = g.level[i] < g.level[j] ? i : j, w = b == i ? j : i;
      if (rg[b].item<double>() > rg[w].item<double>()) ++parts.correct_pairs;
    }
  if (ties == TieMode::Loss) {
    std::vector<int64_t> ta, tb;
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i + 1; j < k; ++j)
        if (g.level[i] == g.level[j]) ta.push_back(i), tb.push_back(j);
    if (!ta.empty()) {
      auto d = rg.index_select(0, torch::tensor(ta, torch::kLong).to(r.device())) -
               rg.index_select(0, torch::tensor(tb, torch::kLong).to(r.device()));
      auto t = (0.5 * (F::softplus(-d) + F::softplus(d))).sum();
      sum = sum.defined() ? sum + t : t;
      terms += ta.size();
    }
  }
  if (!terms) return {};
  return sum / static_cast<double>(terms);
}
}  // namespace

LossParts reward_loss(const torch::Tensor& rewards, const std::vector<GroupSpec>& groups, const LossOptions& opts) {
  TORCH_CHECK(rewards.dim() == 1, "reward_loss: rewards must be (N), got ", rewards.sizes());
  LossParts parts;
  auto r = rewards.to(torch::kFloat);
  std::vector<torch::Tensor> terms, means;
  for (const auto& g : groups) {
    if (g.offset < 0 || g.offset + static_cast<int64_t>(g.level.size()) > r.size(0))
      throw Error("reward_loss: a group at offset " + std::to_string(g.offset) + " with " +
                  std::to_string(g.level.size()) + " responses runs past the " + std::to_string(r.size(0)) +
                  " rewards");
    auto t = opts.ranking == RankingLoss::Pairwise ? group_pairwise(r, g, opts.ties, parts)
                                                   : group_plackett_luce(r, g, opts.ties, parts);
    if (t.defined()) terms.push_back(t);
    if (opts.center_coef != 0.0 && !g.level.empty()) means.push_back(r.narrow(0, g.offset, g.level.size()).mean());
  }
  auto zero = r.sum() * 0.0;  // keeps the graph connected when nothing contributes
  parts.groups_with_terms = static_cast<int64_t>(terms.size());
  parts.preference_sum = terms.empty() ? zero : torch::stack(terms).sum();
  parts.centering_sum = means.empty() ? zero : opts.center_coef * torch::stack(means).pow(2).sum();
  parts.preference = terms.empty() ? zero : parts.preference_sum / static_cast<double>(terms.size());
  parts.centering = means.empty() ? zero : parts.centering_sum / static_cast<double>(means.size());
  parts.total = parts.preference + parts.centering;
  return parts;
}

}  // namespace rlhf::reward
