// Held-out evaluation of a policy against its reference: gold delta with a paired bootstrap,
// win rate, KL, reward-model mean.
#include "rlhf/rl/ppo_eval.h"

#include "rlhf/eval/metrics.h"
#include "rlhf/world/judge.h"

namespace rlhf::rl {

namespace {
std::vector<std::string> sample_texts(PpoTrainer& t, Transformer& model, const std::vector<std::vector<int64_t>>& ids,
                                      uint64_t seed, std::vector<GeneratedRow>* rows_out) {
  torch::NoGradGuard ng;
  const PpoConfig& cfg = t.config();
  SamplingConfig sc;
  sc.temperature = cfg.temperature;
  sc.top_k = cfg.top_k;
  sc.top_p = cfg.top_p;
  sc.max_new_tokens = cfg.max_new_tokens;
  if (t.tokenizer()->eos_id() >= 0) sc.stop_ids = std::vector<int64_t>{t.tokenizer()->eos_id()};
  sc.seed = seed;
  GenerateOptions go;
  go.backend = cfg.gen_backend;
  auto rows = generate(model, ids, sc, go);
  std::vector<std::string> out;
  for (const auto& r : rows) {
    std::vector<int32_t> toks(r.tokens.begin(), r.tokens.end());
    if (r.finished && !toks.empty()) toks.pop_back();
    out.push_back(t.tokenizer()->decode(toks, true));
  }
  if (rows_out) *rows_out = std::move(rows);
  return out;
}

nlohmann::json ci(const eval::Interval& i) { return nlohmann::json::array({i.lo, i.hi}); }
}  // namespace

PolicyEvalResult evaluate_vs_reference(PpoTrainer& t, const std::vector<std::string>& prompts, RewardFn* rm,
                                       uint64_t seed) {
  PolicyEvalResult r;
  r.prompts = prompts;
  r.kl_target = t.config().kl_target;
  std::vector<std::vector<int64_t>> ids;
  for (const auto& p : prompts) ids.push_back(t.encode_prompt(p));
  std::vector<GeneratedRow> rows;
  r.responses_policy = sample_texts(t, t.models().policy, ids, seed, &rows);
  r.responses_ref = sample_texts(t, t.models().reference, ids, seed, nullptr);
  {
    torch::NoGradGuard ng;
    RolloutBatch b = make_rollout_batch(ids, rows, t.pad_id());
    auto ref = response_logprobs(t.models().reference, b).logp;
    auto kl = ((b.gen_logprobs - ref) * b.mask).sum(1);
    for (int64_t i = 0; i < kl.size(0); ++i) r.kl.push_back(kl[i].item<double>());
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    r.gold_policy.push_back(world::judge(prompts[i], r.responses_policy[i]).gold);
    r.gold_ref.push_back(world::judge(prompts[i], r.responses_ref[i]).gold);
  }
  if (rm) {
    std::vector<RewardQuery> q;
    for (size_t i = 0; i < prompts.size(); ++i) q.push_back({prompts[i], r.responses_policy[i], rows[i].finished});
    r.rm_policy = rm->score(q).score;
  }
  return r;
}

nlohmann::json PolicyEvalResult::summary() const {
  std::vector<double> delta, win;
  for (size_t i = 0; i < gold_policy.size(); ++i) {
    delta.push_back(gold_policy[i] - gold_ref[i]);
    win.push_back(gold_policy[i] > gold_ref[i] ? 1.0 : gold_policy[i] == gold_ref[i] ? 0.5 : 0.0);
  }
  auto g = eval::bootstrap_mean_interval(gold_policy, 1000, 1);
  auto d = eval::bootstrap_mean_interval(delta, 1000, 2);  // pairs resampled together: a paired bootstrap
  auto w = eval::bootstrap_mean_interval(win, 1000, 3);
  nlohmann::json j = {{"gold_mean", g.value},
                      {"gold_ci95", ci(g)},
                      {"sft_gold_mean", eval::mean(gold_ref)},
                      {"gold_delta_vs_sft", d.value},
                      {"gold_delta_ci95", ci(d)},
                      {"win_rate_vs_sft", w.value},
                      {"win_rate_ci95", ci(w)},
                      {"kl", eval::mean(kl)},
                      {"kl_target", kl_target},
                      {"n", static_cast<int64_t>(gold_policy.size())}};
  j["rm_mean"] = rm_policy.empty() ? nlohmann::json(nullptr) : nlohmann::json(eval::mean(rm_policy));
  return j;
}

}  // namespace rlhf::rl
