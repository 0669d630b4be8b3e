// RewardNet (trunk + scalar head at the EOS) and RewardModel scoring: batched, length-sorted,
// single model or ensemble, with per-member normalisation.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/train_ops.h"
#include "rlhf/data/preference_batch.h"
#include "rlhf/io/error.h"
#include "rlhf/reward/reward_model.h"

namespace rlhf::reward {

RewardNetImpl::RewardNetImpl(const ModelConfig& cfg) {
  trunk = register_module("trunk", Transformer(cfg));
  head = register_module("head", ScalarHead(cfg.d_model));
}

RewardNetImpl::RewardNetImpl(Transformer t, ScalarHead h) {
  if (t.is_empty() || h.is_empty()) throw Error("RewardNet: trunk and head are required");
  trunk = register_module("trunk", std::move(t));
  head = register_module("head", std::move(h));
}

LmMode parse_lm_mode(const std::string& name) {
  if (name == "sum") return LmMode::Sum;
  if (name == "mean") return LmMode::Mean;
  if (name == "ref") return LmMode::Ref;
  throw Error("--lm-mode: unknown likelihood mode \"" + name + "\" (allowed: sum|mean|ref)");
}

std::string to_string(LmMode m) {
  switch (m) {
    case LmMode::Sum: return "sum";
    case LmMode::Mean: return "mean";
    case LmMode::Ref: return "ref";
  }
  return "sum";
}

torch::Tensor RewardNetImpl::response_logprob(Transformer& lm, const torch::Tensor& h, const torch::Tensor& tokens,
                                              const torch::Tensor& in_response) {
  const int64_t T = tokens.size(1);
  // Position j predicts token j + 1. Only positions from the batch's earliest response token on
  // go through the LM head (the prompt's positions would be multiplied by 0 anyway).
  auto used = in_response.amax(0).nonzero();
  if (used.numel() == 0) return torch::zeros({tokens.size(0)}, h.options().dtype(torch::kFloat));
  const int64_t p0 = used[0][0].item<int64_t>(), L = T - 1 - p0;
  auto logits = lm->lm_head(h.narrow(1, p0, L)).to(torch::kFloat);  // (N, L, V)
  auto targets = tokens.narrow(1, p0 + 1, L);                        // (N, L)
  auto mask = in_response.narrow(1, p0, L);                          // (N, L)
  // Positions outside a row's response get an ignored target: 0 and no gradient.
  auto t = torch::where(mask > 0, targets, torch::full_like(targets, -100)).reshape({-1});
  return kernels::token_logprobs(logits.reshape({-1, logits.size(-1)}), t).view(mask.sizes()).sum(1);  // (N)
}

torch::Tensor RewardNetImpl::forward(const torch::Tensor& tokens, const torch::Tensor& last_index,
                                     const torch::Tensor& response_start) {
  TORCH_CHECK(tokens.dim() == 2 && last_index.dim() == 1 && last_index.size(0) == tokens.size(0),
              "RewardNet: tokens (N, T) and last_index (N) expected, got ", tokens.sizes(), " and ", last_index.sizes());
  auto last_idx = last_index.to(tokens.device());
  // Right padding needs no mask under causal attention. Without the likelihood term only each
  // row's last token is read, and the last layer runs on that row alone.
  if (!lm_coef_.defined() || tokens.size(1) < 2) {
    ForwardArgs args;
    args.keep_index = last_idx;
    auto last = trunk->hidden(tokens, args).squeeze(1);          // (N, C)
    return head->proj(last).squeeze(-1).to(torch::kFloat);       // (N)
  }
  auto h = trunk->hidden(tokens);                                // (N, T, C)
  auto rows = torch::arange(tokens.size(0), torch::TensorOptions().dtype(torch::kLong).device(tokens.device()));
  auto last = h.index({rows, last_idx});                         // (N, C)
  auto r = head->proj(last).squeeze(-1).to(torch::kFloat);       // (N)
  if (!response_start.defined() || response_start.numel() != tokens.size(0))
    throw Error("RewardNet: the likelihood term needs each row's response start");
  const int64_t T = tokens.size(1);
  // A response token t counts when start <= t <= last (its EOS).
  auto target = torch::arange(1, T, rows.options()).unsqueeze(0);  // (1, T-1)
  auto in_response =
      ((target >= response_start.to(tokens.device()).unsqueeze(1)) & (target <= last_idx.unsqueeze(1))).to(torch::kFloat);
  auto lp = response_logprob(trunk, h, tokens, in_response);
  if (lm_mode_ == LmMode::Mean) {
    lp = lp / in_response.sum(1).clamp_min(1.0);
  } else if (lm_mode_ == LmMode::Ref) {
    if (lm_ref_.is_empty()) throw Error("RewardNet: likelihood mode \"ref\" needs its reference model");
    torch::NoGradGuard ng;  // the reference is frozen: a constant per row
    lp = lp - response_logprob(lm_ref_, lm_ref_->hidden(tokens), tokens, in_response);
  }
  return r + lm_coef_ * lp;
}

void RewardNetImpl::enable_lm_term(double init, LmMode mode) {
  lm_mode_ = mode;
  torch::Device dev = trunk->parameters().empty() ? torch::Device(torch::kCPU) : trunk->parameters()[0].device();
  if (lm_coef_.defined()) {
    torch::NoGradGuard ng;
    lm_coef_.fill_(init);
    return;
  }
  lm_coef_ = register_parameter("lm_coef", torch::full({}, init, torch::TensorOptions().dtype(torch::kFloat).device(dev)));
}

void RewardNetImpl::set_lm_reference(Transformer ref) {
  if (ref.is_empty()) throw Error("RewardNet::set_lm_reference: no model");
  ref->eval();
  for (auto& p : ref->parameters()) p.set_requires_grad(false);
  lm_ref_ = std::move(ref);
}

double RewardNetImpl::lm_coef() const { return lm_coef_.defined() ? lm_coef_.item<double>() : 0.0; }

nlohmann::json RewardStats::to_json() const {
  return {{"mean", mean}, {"std", stdev}, {"n", n}, {"reference", reference}};
}

RewardStats RewardStats::from_json(const nlohmann::json& j, const std::string& where) {
  RewardStats s;
  s.mean = j.value("mean", 0.0);
  s.stdev = j.value("std", 1.0);
  s.n = j.value("n", int64_t{0});
  s.reference = j.value("reference", std::string());
  if (!(s.stdev > 0.0) || !std::isfinite(s.mean))
    throw Error(where + ": normalisation \"std\" must be > 0 and \"mean\" finite");
  return s;
}

nlohmann::json RewardModelInfo::to_json() const {
  return {{"normalization", stats.to_json()}, {"loss", loss},         {"ties", ties},
          {"margin_scale", margin_scale},     {"center_coef", center_coef}, {"max_len", max_len},
          {"base", base},                     {"seed", seed},
          {"lm_term", lm_term},               {"lm_coef", lm_coef},
          {"lm_mode", lm_mode},               {"lm_reference", lm_reference}};
}

RewardModelInfo RewardModelInfo::from_json(const nlohmann::json& j, const std::string& where) {
  RewardModelInfo i;
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  if (j.contains("normalization")) i.stats = RewardStats::from_json(j["normalization"], where);
  i.loss = j.value("loss", i.loss);
  i.ties = j.value("ties", i.ties);
  i.margin_scale = j.value("margin_scale", 0.0);
  i.center_coef = j.value("center_coef", 0.0);
  i.max_len = j.value("max_len", int64_t{0});
  i.base = j.value("base", std::string());
  i.seed = j.value("seed", uint64_t{0});
  i.lm_term = j.value("lm_term", false);
  i.lm_coef = j.value("lm_coef", 0.0);
  if (!std::isfinite(i.lm_coef)) throw Error(where + ": \"lm_coef\" must be finite");
  i.lm_mode = j.value("lm_mode", std::string("sum"));
  i.lm_reference = j.value("lm_reference", std::string());
  try {
    parse_lm_mode(i.lm_mode);
  } catch (const Error&) {
    throw Error(where + ": \"lm_mode\" must be sum, mean or ref, got \"" + i.lm_mode + "\"");
  }
  return i;
}

RewardModel::RewardModel(std::vector<RewardNet> members, std::vector<RewardModelInfo> infos,
                         std::shared_ptr<Tokenizer> tok, int64_t max_len)
    : members_(std::move(members)), infos_(std::move(infos)), tok_(std::move(tok)), max_len_(max_len) {
  if (members_.empty()) throw Error("RewardModel: no members");
  if (infos_.size() != members_.size()) throw Error("RewardModel: one RewardModelInfo per member expected");
  if (!tok_) throw Error("RewardModel: no tokenizer");
  device_ = members_[0]->parameters().empty() ? torch::Device(torch::kCPU) : members_[0]->parameters()[0].device();
}

std::vector<double> RewardModel::score_tokens(const std::vector<std::vector<int64_t>>& seqs, int member,
                                              int64_t batch_size, const std::vector<int64_t>* starts) const {
  if (starts && starts->size() != seqs.size()) throw Error("RewardModel::score_tokens: one response start per sequence");
  if (batch_size < 1) throw Error("--batch-size must be >= 1");
  auto& net = const_cast<RewardNet&>(members_.at(member));
  if (net->has_lm_term() && !starts)
    throw Error("RewardModel::score_tokens: this model's likelihood term needs response starts");
  bool was_training = net->is_training();
  net->eval();
  torch::NoGradGuard no_grad;
  // Sort by length so each batch pads little; results go back to input order.
  std::vector<size_t> order(seqs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seqs[a].size() < seqs[b].size(); });
  std::vector<double> out(seqs.size());
  int64_t pad = data::reward_pad_id(*tok_);
  for (size_t start = 0; start < order.size(); start += batch_size) {
    size_t end = std::min(order.size(), start + static_cast<size_t>(batch_size));
    std::vector<const std::vector<int64_t>*> rows;
    std::vector<int64_t> row_starts;
    for (size_t i = start; i < end; ++i) {
      rows.push_back(&seqs[order[i]]);
      row_starts.push_back(starts ? (*starts)[order[i]] : 0);
    }
    auto batch = data::collate_sequences(rows, pad, &row_starts);
    auto r = net->forward(batch.tokens.to(device_), batch.last_index.to(device_), batch.response_start.to(device_))
                 .to(torch::kCPU)
                 .to(torch::kDouble);
    auto acc = r.accessor<double, 1>();
    for (size_t i = start; i < end; ++i) out[order[i]] = acc[i - start];
  }
  if (was_training) net->train();
  return out;
}

Scores RewardModel::score(const std::vector<std::string>& prompts, const std::vector<std::string>& responses,
                          int64_t batch_size) const {
  if (prompts.size() != responses.size())
    throw Error("RewardModel::score: " + std::to_string(prompts.size()) + " prompts but " +
                std::to_string(responses.size()) + " responses");
  std::vector<std::vector<int64_t>> seqs;
  std::vector<int64_t> starts(prompts.size(), 0);
  seqs.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i)
    seqs.push_back(data::encode_reward_input(*tok_, prompts[i], responses[i], max_len_, nullptr, &starts[i]));
  Scores s;
  size_t n = seqs.size(), m = members_.size();
  for (size_t k = 0; k < m; ++k) s.members.push_back(score_tokens(seqs, static_cast<int>(k), batch_size, &starts));
  s.mean.assign(n, 0.0);
  s.stdev.assign(n, 0.0);
  s.normalized.assign(n, 0.0);
  s.normalized_std.assign(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    double sum = 0, sum_z = 0;
    std::vector<double> z(m);
    for (size_t k = 0; k < m; ++k) {
      const RewardStats& st = infos_[k].stats;
      z[k] = (s.members[k][i] - st.mean) / st.stdev;
      sum += s.members[k][i];
      sum_z += z[k];
    }
    double mu = sum / m, mu_z = sum_z / m, ss = 0, ss_z = 0;
    for (size_t k = 0; k < m; ++k) {
      ss += (s.members[k][i] - mu) * (s.members[k][i] - mu);
      ss_z += (z[k] - mu_z) * (z[k] - mu_z);
    }
    s.mean[i] = mu;
    s.stdev[i] = std::sqrt(ss / m);
    s.normalized[i] = mu_z;
    s.normalized_std[i] = std::sqrt(ss_z / m);
  }
  return s;
}

GroupScores score_groups(const RewardModel& model, const std::vector<data::PreferenceGroup>& groups,
                         int64_t batch_size, bool normalized) {
  std::vector<std::string> prompts, responses;
  for (const auto& g : groups)
    for (const auto& r : g.responses) prompts.push_back(g.prompt), responses.push_back(r);
  Scores s = model.score(prompts, responses, batch_size);
  const auto& m = normalized ? s.normalized : s.mean;
  const auto& sd = normalized ? s.normalized_std : s.stdev;
  GroupScores out;
  size_t k = 0;
  for (const auto& g : groups) {
    out.mean.emplace_back(m.begin() + k, m.begin() + k + g.responses.size());
    out.stdev.emplace_back(sd.begin() + k, sd.begin() + k + g.responses.size());
    k += g.responses.size();
  }
  return out;
}

}  // namespace rlhf::reward
