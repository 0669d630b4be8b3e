// Held-out evaluation of a policy against its reference: gold delta with a paired bootstrap,
// win rate, KL, reward-model mean; sampled at the run's temperature and greedy.
#include "rlhf/rl/ppo_eval.h"

#include <algorithm>

#include "rlhf/eval/metrics.h"
#include "rlhf/world/judge.h"

namespace rlhf::rl {

namespace {
std::vector<std::string> sample_texts(PpoTrainer& t, Transformer& model, const std::vector<std::vector<int64_t>>& ids,
                                      double temperature, uint64_t seed, std::vector<GeneratedRow>* rows_out) {
  torch::NoGradGuard ng;
  const PpoConfig& cfg = t.config();
  SamplingConfig sc;
  sc.temperature = temperature;
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
                                       uint64_t seed, double temperature, int64_t samples) {
  PolicyEvalResult r;
  r.prompts = prompts;
  r.kl_target = t.config().kl_target;
  r.temperature = temperature < 0 ? t.config().temperature : temperature;
  const int64_t k = r.temperature == 0 ? 1 : std::max<int64_t>(1, samples);  // greedy: every sample is the same
  r.samples = k;
  const int64_t n = static_cast<int64_t>(prompts.size());
  // Rows grouped by prompt: prompt i's samples are rows i*k .. i*k + k - 1.
  std::vector<std::vector<int64_t>> ids;
  for (const auto& p : prompts) {
    auto one = t.encode_prompt(p);
    for (int64_t j = 0; j < k; ++j) ids.push_back(one);
  }
  // In chunks of rows (a few hundred rows at once make generation and the forward slow); each
  // chunk's sampler seed is shared by the policy and the reference.
  const bool with_kl = r.temperature == 1.0 && t.config().top_k == 0 && t.config().top_p >= 1.0;
  std::vector<GeneratedRow> rows;
  std::vector<std::string> pol, ref;
  std::vector<double> kl_rows;
  constexpr size_t kChunk = 64;
  for (size_t start = 0; start < ids.size(); start += kChunk) {
    const size_t end = std::min(ids.size(), start + kChunk);
    std::vector<std::vector<int64_t>> part(ids.begin() + start, ids.begin() + end);
    const uint64_t s = seed + 7919 * (start / kChunk);
    std::vector<GeneratedRow> prow;
    auto p = sample_texts(t, t.models().policy, part, r.temperature, s, &prow);
    auto q = sample_texts(t, t.models().reference, part, r.temperature, s, nullptr);
    pol.insert(pol.end(), p.begin(), p.end());
    ref.insert(ref.end(), q.begin(), q.end());
    if (with_kl) {
      // Responses sampled from the policy itself: sum_t log pi/ref estimates KL(pi || ref) (k1).
      torch::NoGradGuard ng;
      RolloutBatch b = make_rollout_batch(part, prow, t.pad_id());
      auto lref = response_logprobs(t.models().reference, b).logp;
      auto kl = ((b.gen_logprobs - lref) * b.mask).sum(1).contiguous();
      kl_rows.insert(kl_rows.end(), kl.data_ptr<float>(), kl.data_ptr<float>() + kl.numel());
    }
    for (auto& g : prow) rows.push_back(std::move(g));
  }
  std::vector<double> rm_rows;
  if (rm) {
    std::vector<RewardQuery> q;
    for (size_t i = 0; i < ids.size(); ++i) q.push_back({prompts[i / k], pol[i], rows[i].finished});
    rm_rows = rm->score(q).score;
  }
  for (int64_t i = 0; i < n; ++i) {
    double gp = 0, gr = 0, w = 0, kl = 0, rs = 0;
    for (int64_t j = 0; j < k; ++j) {
      const int64_t row = i * k + j;
      const double a = world::judge(prompts[i], pol[row]).gold, b = world::judge(prompts[i], ref[row]).gold;
      gp += a / k, gr += b / k;
      w += (a > b ? 1.0 : a == b ? 0.5 : 0.0) / k;
      if (!kl_rows.empty()) kl += kl_rows[row] / k;
      if (!rm_rows.empty()) rs += rm_rows[row] / k;
    }
    r.gold_policy.push_back(gp);
    r.gold_ref.push_back(gr);
    r.win.push_back(w);
    if (!kl_rows.empty()) r.kl.push_back(kl);
    if (!rm_rows.empty()) r.rm_policy.push_back(rs);
    r.responses_policy.push_back(pol[i * k]);
    r.responses_ref.push_back(ref[i * k]);
  }
  return r;
}

nlohmann::json PolicyEvalResult::summary() const {
  std::vector<double> delta;
  for (size_t i = 0; i < gold_policy.size(); ++i) delta.push_back(gold_policy[i] - gold_ref[i]);
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
                      {"kl_target", kl_target},
                      {"n", static_cast<int64_t>(gold_policy.size())},
                      {"temperature", temperature},
                      {"samples_per_prompt", samples}};
  j["kl"] = kl.empty() ? nlohmann::json(nullptr) : nlohmann::json(eval::mean(kl));
  j["rm_mean"] = rm_policy.empty() ? nlohmann::json(nullptr) : nlohmann::json(eval::mean(rm_policy));
  return j;
}

nlohmann::json evaluate_summary(PpoTrainer& t, const std::vector<std::string>& prompts, RewardFn* rm, uint64_t seed) {
  nlohmann::json s = evaluate_vs_reference(t, prompts, rm, seed, -1, t.config().eval_samples).summary();
  nlohmann::json g = evaluate_vs_reference(t, prompts, rm, seed, 0.0, 1).summary();
  g.erase("kl");
  g.erase("kl_target");
  g.erase("samples_per_prompt");
  s["greedy"] = g;
  return s;
}

}  // namespace rlhf::rl
