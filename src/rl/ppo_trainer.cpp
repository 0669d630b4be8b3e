// The policy-optimisation iteration: rollout, scoring, reference/value forward, KL-shaped
// rewards, advantages (GAE or group baselines), and epochs of clipped mini-batch updates.
#include "rlhf/rl/ppo_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <optional>
#include <random>

#include <ATen/record_function.h>

#include "rlhf/io/error.h"
#include "rlhf/train/lm_loss.h"

namespace rlhf::rl {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ULL + b + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

NamedParams prefixed(const torch::nn::Module& m, const std::string& prefix) {
  NamedParams out;
  for (auto& [n, p] : named_params(m)) out.emplace_back(prefix + n, p);
  return out;
}

}  // namespace

PpoTrainer::PpoTrainer(PpoConfig cfg, TrainConfig opt, PolicyModels models, std::shared_ptr<RewardFn> reward,
                       std::shared_ptr<Tokenizer> tok)
    : cfg_(std::move(cfg)),
      algo_(parse_algo(cfg_.algo)),
      kl_est_(parse_kl_estimator(cfg_.kl_estimator)),
      m_(std::move(models)),
      reward_(std::move(reward)),
      tok_(std::move(tok)),
      kl_(cfg_.kl_coef, cfg_.kl_target, cfg_.kl_horizon) {
  cfg_.validate();
  if (!m_.policy || !m_.reference) throw Error("PpoTrainer: the policy and the reference model are required");
  if (cfg_.critic() && (!m_.value_trunk || !m_.value_head))
    throw Error("PpoTrainer: --algo ppo needs a value model (trunk + head); use --algo rloo|grpo|reinforce without one");
  if (!reward_) throw Error("PpoTrainer: no reward function");
  if (!tok_) throw Error("PpoTrainer: no tokenizer");
  for (auto& p : m_.reference->parameters()) p.set_requires_grad(false);
  pad_id_ = tok_->pad_id() >= 0 ? tok_->pad_id() : std::max<int32_t>(0, tok_->eos_id());
  if (tok_->eos_id() >= 0) stop_ids_.push_back(tok_->eos_id());

  NamedParams params = prefixed(*m_.policy, "policy.");
  if (cfg_.critic()) {
    for (auto& p : prefixed(*m_.value_trunk, "value.trunk.")) params.push_back(p);
    for (auto& p : prefixed(*m_.value_head, "value.head.")) params.push_back(p);
  }
  opt.steps = cfg_.iterations * steps_per_iteration();
  opt.grad_accum = cfg_.mini_batch / cfg_.micro_batch;
  opt.batch_size = cfg_.micro_batch;
  if (opt.warmup_steps > opt.steps) opt.warmup_steps = opt.steps;
  opt.seed = cfg_.seed;
  trainer_ = std::make_unique<Trainer>(params, opt);
}

int64_t PpoTrainer::steps_per_iteration() const {
  const int64_t n = cfg_.batch_prompts * cfg_.samples_per_prompt;
  return cfg_.ppo_epochs * ((n + cfg_.mini_batch - 1) / cfg_.mini_batch);
}

std::vector<int64_t> PpoTrainer::epoch_order(int64_t epoch, int64_t n) const {
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  std::mt19937_64 rng(mix_seed(mix_seed(cfg_.seed, iteration_), epoch + 1));
  std::shuffle(perm.begin(), perm.end(), rng);
  return perm;
}

void PpoTrainer::set_ptx_data(std::vector<data::TokenizedExample> examples) { ptx_ = std::move(examples); }

std::vector<int64_t> PpoTrainer::encode_prompt(const std::string& prompt) const {
  std::vector<int64_t> ids;
  if (tok_->add_bos_by_default() && tok_->bos_id() >= 0) ids.push_back(tok_->bos_id());
  for (int32_t t : tok_->encode(prompt)) ids.push_back(t);
  // Room for the response inside the model's context: prompt + max_new_tokens <= max_seq.
  const int64_t limit = std::min(cfg_.max_prompt_tokens, m_.policy->config().max_seq - cfg_.max_new_tokens);
  if (limit < 1)
    throw Error("--max-new-tokens " + std::to_string(cfg_.max_new_tokens) + " leaves no room for a prompt in the model's context of " +
                std::to_string(m_.policy->config().max_seq) + " tokens; lower --max-new-tokens");
  if (static_cast<int64_t>(ids.size()) > limit)
    ids.erase(ids.begin(), ids.end() - limit);  // keep the end: the turn being answered
  if (ids.empty()) throw Error("empty prompt after tokenization: \"" + prompt + "\"");
  return ids;
}

bool PpoTrainer::replays() const {
  return cfg_.replay_generation && cfg_.gen_backend != "torch" && m_.policy->can_replay() &&
         DecodeEngine::unsupported_reason(m_.policy).empty();
}

void PpoTrainer::plan_recording(const std::vector<std::vector<int64_t>>& prompt_ids) {
  const int64_t N = static_cast<int64_t>(prompt_ids.size());
  const int64_t mb = std::min(N, cfg_.mini_batch), micro = cfg_.micro_batch;
  const std::vector<int64_t> perm = epoch_order(0, N);  // the update's first epoch visits rows in this order
  auto rec = std::make_unique<DecodeRecording>();
  rec->part.assign(N, -1);
  rec->row.assign(N, 0);
  rec->col0.assign(N, 0);
  for (const auto& ids : prompt_ids) rec->prompt_len.push_back(static_cast<int64_t>(ids.size()));
  const auto& mc = m_.policy->config();
  const size_t budget = static_cast<size_t>(cfg_.replay_max_mb) << 20;
  size_t used = 0;
  for (int64_t s = 0; s < mb; s += micro) {
    const int64_t e = std::min(mb, s + micro);
    DecodeRecording::Part p;
    p.rows = e - s;
    for (int64_t i = s; i < e; ++i) p.prompt = std::max(p.prompt, rec->prompt_len[perm[i]]);
    p.cols = p.prompt + cfg_.max_new_tokens - 1;
    p.resp_cols = cfg_.max_new_tokens;
    const size_t bytes = DecodeRecording::part_bytes(mc, p.rows, p.cols, p.resp_cols);
    if (used + bytes > budget) break;
    used += bytes;
    const int64_t part = static_cast<int64_t>(rec->parts.size());
    for (int64_t i = s; i < e; ++i) {
      rec->part[perm[i]] = part;
      rec->row[perm[i]] = i - s;
      rec->col0[perm[i]] = p.prompt - rec->prompt_len[perm[i]];
    }
    rec->parts.push_back(p);
  }
  if (rec->parts.empty()) return;
  rec->allocate(mc, &replay_arena_);
  replay_ = std::move(rec);
}

RolloutResult PpoTrainer::rollout(const std::vector<std::string>& prompts, int64_t k, uint64_t seed, bool record) {
  torch::NoGradGuard ng;
  RolloutResult r;
  for (const auto& p : prompts) {
    auto ids = encode_prompt(p);
    for (int64_t j = 0; j < k; ++j) r.prompts.push_back(p), r.prompt_ids.push_back(ids);
  }
  replay_.reset();
  if (record && replays()) plan_recording(r.prompt_ids);
  SamplingConfig sc;
  sc.temperature = cfg_.temperature;
  sc.top_k = cfg_.top_k;
  sc.top_p = cfg_.top_p;
  sc.max_new_tokens = cfg_.max_new_tokens;
  sc.stop_ids = stop_ids_;
  sc.seed = seed;
  GenerateOptions go;
  go.backend = cfg_.gen_backend;
  // bf16 training samples with bf16 weights too, as a bf16 model would (the old policy is then the
  // replayed generator's forward, or recomputed in bf16 for the rows not replayed).
  go.bf16_weights = trainer_->config().dtype == "bf16";
  go.record = replay_.get();
  r.rows = generate(m_.policy, r.prompt_ids, sc, go);
  for (const auto& row : r.rows) {
    std::vector<int32_t> ids(row.tokens.begin(), row.tokens.end());
    if (row.finished && !ids.empty()) ids.pop_back();  // the end token is not part of the text
    r.responses.push_back(tok_->decode(ids, true));
  }
  r.batch = make_rollout_batch(r.prompt_ids, r.rows, pad_id_);
  return r;
}

PpoTrainer::Advantages PpoTrainer::compute_advantages(const RolloutBatch& b, const torch::Tensor& scores,
                                                      const torch::Tensor& kl_tok, const torch::Tensor& values,
                                                      double beta, nlohmann::json& rec) const {
  Advantages a;
  const auto& mask = b.mask;
  if (algo_ == Algo::Ppo) {
    // Per-token reward: -beta * KL everywhere, plus the sequence score at the last real token.
    auto rewards = -beta * kl_tok;
    auto last = (mask.sum(1) - 1).clamp_min(0).to(torch::kLong).unsqueeze(1);  // (N, 1)
    rewards = rewards.scatter_add(1, last, scores.unsqueeze(1));
    auto g = gae(rewards, values, mask, cfg_.gamma, cfg_.lam);
    a.returns = g.returns;
    a.old_values = values;
    a.adv = cfg_.whiten_advantages ? whiten(g.advantages, mask) : g.advantages;
    rec["explained_var"] = explained_variance(values, g.returns, mask);
    rec["value_mean"] = masked_mean(values, mask).item<double>();
    rec["return_mean"] = masked_mean(g.returns, mask).item<double>();
  } else {
    // Sequence-level: R = score - beta * sum_t KL_t, then a baseline from the group or batch.
    auto R = scores - beta * kl_tok.sum(1);  // (N)
    const int64_t k = cfg_.samples_per_prompt;
    torch::Tensor A;
    if (algo_ == Algo::Rloo) A = rloo_advantages(R.view({-1, k})).reshape({-1});
    else if (algo_ == Algo::Grpo) A = grpo_advantages(R.view({-1, k})).reshape({-1});
    else A = R - R.mean();  // REINFORCE with the batch-mean baseline
    a.adv = A.unsqueeze(1) * mask;
  }
  return a;
}

torch::Tensor PpoTrainer::ptx_loss() {
  std::vector<const data::TokenizedExample*> rows;
  for (int64_t i = 0; i < cfg_.ptx_batch; ++i) {
    rows.push_back(&ptx_[ptx_pos_ % ptx_.size()]);
    ++ptx_pos_;
  }
  data::LmBatch batch = data::collate_padded(rows, pad_id_);
  ForwardArgs args;
  args.attention_mask = batch.attention_mask;
  auto logits = m_.policy->forward(batch.input_ids, args);
  MicroLoss ml = lm_loss_sum(logits, batch);
  return ml.sum / std::max(1.0, ml.count);
}

nlohmann::json PpoTrainer::update(const RolloutBatch& b, const torch::Tensor& old_logp, const Advantages& a,
                                  UpdateChecks* chk) {
  const int64_t N = b.rows(), mb = cfg_.mini_batch, micro = cfg_.micro_batch;
  const bool use_ptx = cfg_.ptx_coef > 0 && !ptx_.empty();
  double clip_sum = 0, akl_sum = 0, pl_sum = 0, vl_sum = 0, vclip_sum = 0, ent_sum = 0, tok_sum = 0, ptx_sum = 0;
  double gn_sum = 0, lr = 0, ratio_dev = 0, gen_diff = 0, ent0_sum = 0, ent0_tok = 0;
  int64_t steps = 0;
  // The first micro-batch's forward (with graph) was made in the reference/value phase.
  std::optional<FirstMicro> first = std::move(first_);
  first_.reset();
  for (int64_t epoch = 0; epoch < cfg_.ppo_epochs; ++epoch) {
    const std::vector<int64_t> perm = epoch_order(epoch, N);
    for (int64_t start = 0; start < N; start += mb) {
      const int64_t end = std::min(N, start + mb);
      double step_tokens = 0;
      for (int64_t i = start; i < end; ++i) step_tokens += b.mask[perm[i]].sum().item<double>();
      auto micro_fn = [&](int64_t m) -> MicroLoss {
        const int64_t s = start + m * micro, e = std::min(end, s + micro);
        MicroLoss out;
        if (s >= e) {
          out.sum = torch::zeros({});
          return out;
        }
        const bool cached = first && epoch == 0 && start == 0 && m == 0;
        auto idx = cached ? first->idx
                          : torch::tensor(std::vector<int64_t>(perm.begin() + s, perm.begin() + e), torch::kLong);
        // These rows without their common padding; per-token tensors keep the first T' columns.
        RolloutBatch sub = cached ? first->sub : trim_padding(select_rows(b, idx));
        const int64_t Tk = sub.resp_len();
        auto rows_of = [&](const torch::Tensor& x) { return x.index_select(0, idx).narrow(1, 0, Tk); };
        auto mask = sub.mask;
        auto old = rows_of(old_logp), adv = rows_of(a.adv);
        const bool want_ent = cfg_.entropy_coef > 0;
        // The first epoch visits every row once: it also measures the policy's entropy.
        // The first optimiser step's micro-batches replay the generator's forward when recorded.
        const bool replayed = replay_ && epoch == 0 && start == 0 && m < static_cast<int64_t>(replay_->parts.size());
        TokenLogprobs cur =
            cached && first->cur.logp.defined() ? first->cur
            : replayed ? response_logprobs_replay(m_.policy, sub, replay_->parts[m], want_ent || epoch == 0, want_ent)
                       : response_logprobs(m_.policy, sub, want_ent || epoch == 0, want_ent);
        PolicyLossResult pl = policy_loss_clipped(cur.logp, old, adv, mask, cfg_.clip_eps);
        auto loss = pl.loss;
        const double ntok = mask.sum().item<double>();
        if (steps == 0) {
          // Before the first update the new policy is the old one: the ratio must be 1, and the
          // recomputed log-probs must equal the generator's.
          torch::NoGradGuard ng;
          auto lp = cur.logp.detach();
          ratio_dev = std::max(ratio_dev, ((torch::exp(lp - old) - 1).abs() * mask).max().item<double>());
          gen_diff = std::max(gen_diff, ((lp - sub.gen_logprobs).abs() * mask).max().item<double>());
        }
        if (epoch == 0) {
          const double es = (cur.entropy.detach() * mask).sum().item<double>(), et = mask.sum().item<double>();
          ent0_sum += es;
          ent0_tok += et;
          if (replayed && chk) chk->replay_ent_sum += es, chk->replay_ent_tok += et;
        }
        if (cfg_.critic()) {
          auto v = cached ? first->values : response_values(m_.value_trunk, m_.value_head, sub);
          ValueLossResult vl = value_loss_clipped(v, rows_of(a.old_values), rows_of(a.returns), mask, cfg_.value_clip_eps);
          loss = loss + cfg_.vf_coef * vl.loss;
          vl_sum += vl.loss.item<double>() * ntok;
          vclip_sum += vl.clip_frac.item<double>() * ntok;
        }
        if (want_ent) {
          auto ent = masked_mean(cur.entropy, mask);
          loss = loss - cfg_.entropy_coef * ent;
          ent_sum += ent.item<double>() * ntok;
        }
        if (use_ptx && m == 0) {
          // Scaled so that after the step's division by its token count it weighs ptx_coef.
          auto lp = ptx_loss();
          ptx_sum += lp.item<double>();
          loss = loss + cfg_.ptx_coef * lp * (step_tokens / std::max(1.0, ntok));
        }
        clip_sum += pl.clip_frac.item<double>() * ntok;
        akl_sum += pl.approx_kl.item<double>() * ntok;
        pl_sum += pl.loss.item<double>() * ntok;
        tok_sum += ntok;
        out.sum = loss * ntok;
        out.count = ntok;
        out.tokens = sub.attn_mask.sum().item<int64_t>();
        return out;
      };
      StepStats st = trainer_->step(micro_fn);
      first.reset();  // its graph is spent
      replay_.reset();  // so is the recording (the weights moved)
      gn_sum += st.grad_norm;
      lr = st.lr;
      ++steps;
    }
  }
  const double t = std::max(1.0, tok_sum);
  if (chk) {
    chk->gen_diff = gen_diff;
    chk->entropy = ent0_sum / std::max(1.0, ent0_tok);
  }
  nlohmann::json rec = {{"clip_frac", clip_sum / t},  {"approx_kl", akl_sum / t}, {"policy_loss", pl_sum / t},
                        {"grad_norm", gn_sum / steps}, {"lr", lr},                {"ratio_first_dev", ratio_dev},
                        {"optimizer_steps", steps}};
  if (cfg_.critic()) rec["value_loss"] = vl_sum / t, rec["value_clip_frac"] = vclip_sum / t;
  if (cfg_.entropy_coef > 0) rec["entropy_update"] = ent_sum / t;
  if (use_ptx) rec["ptx_loss"] = ptx_sum / steps;
  return rec;
}

nlohmann::json PpoTrainer::iterate(const std::vector<std::string>& prompts, std::vector<SampleRecord>* samples) {
  nlohmann::json rec;
  rec["iteration"] = iteration_ + 1;
  const double t0 = now_s();
  std::optional<at::RecordFunction> phase;
  // Profiler ranges around the four timed phases (rlhf-bench ppo --profile).
  auto begin_phase = [&](const char* name) {
    phase.reset();
    phase.emplace(at::RecordScope::USER_SCOPE);
    if (phase->isActive()) phase->before(name);
  };
  begin_phase("ppo::generate");
  RolloutResult ro = rollout(prompts, cfg_.samples_per_prompt, mix_seed(cfg_.seed, iteration_), true);
  const RolloutBatch& b = ro.batch;
  const int64_t N = b.rows();
  const double t1 = now_s();

  // Score the decoded texts; shape the score (unfinished penalty, clipping).
  begin_phase("ppo::score");
  std::vector<RewardQuery> queries;
  for (int64_t i = 0; i < N; ++i) queries.push_back({ro.prompts[i], ro.responses[i], ro.rows[i].finished});
  RewardScores rs;
  {
    // Under bf16 training the reward models' products run in bf16 too (as every other forward).
    AutocastGuard cast(trainer_->config().dtype == "bf16");
    rs = reward_->score(queries);
  }
  std::vector<double> shaped(N);
  double raw_mean = 0, norm_mean = 0;
  for (int64_t i = 0; i < N; ++i) {
    double s = rs.score[i];
    norm_mean += s / N;
    raw_mean += rs.raw[i] / N;
    if (!ro.rows[i].finished) s += cfg_.missing_eos_penalty;
    if (cfg_.reward_clip > 0) s = std::clamp(s, -cfg_.reward_clip, cfg_.reward_clip);
    shaped[i] = s;
  }
  auto scores = torch::tensor(shaped, torch::kFloat);
  // Rows come in groups of k per prompt (rollout order); only PPO needs this, the critic-free
  // algorithms take their baseline from the group anyway.
  if (cfg_.group_center && algo_ == Algo::Ppo)
    scores = center_per_group(scores.view({-1, cfg_.samples_per_prompt})).reshape({-1});
  const double t2 = now_s();

  // One forward each over prompt + response: the reference and the value model. The "old" policy
  // log-probs are the generator's own (the same weights, fp32): recomputing them would cost a third
  // forward. With bf16 training the old policy is recomputed under the same autocast instead, so the
  // importance ratio starts at 1 in the update's precision. The rows of the first optimiser step's
  // first micro-batch go through the policy (bf16) and the value model once, with autograd, and
  // that graph is the micro-batch's loss in the update (FirstMicro).
  begin_phase("ppo::reference_value_forward");
  torch::Tensor old_logp, ref_logp, values, entropy;
  const bool bf16 = trainer_->config().dtype == "bf16";
  const auto& mask = b.mask;
  double gen_diff = -1;
  double others_ent_sum = 0, others_ent_tok = 0;  // bf16 with replay: the recomputed rows' entropy
  first_.reset();
  // Rows whose policy forward the update replays from the generator's recording: their old
  // log-probs are the generator's in both precisions (the replayed forward is that forward).
  std::vector<int64_t> replayed, others;
  for (int64_t i = 0; i < N; ++i) (replay_ && replay_->part[i] >= 0 ? replayed : others).push_back(i);
  const bool replay = !replayed.empty();
  if (cfg_.reuse_first_forward && (cfg_.critic() || (bf16 && !replay))) {
    std::vector<int64_t> order = epoch_order(0, N);
    const int64_t n0 = std::min({N, cfg_.mini_batch, cfg_.micro_batch});
    FirstMicro f;
    f.idx = torch::tensor(std::vector<int64_t>(order.begin(), order.begin() + n0), torch::kLong);
    std::sort(order.begin() + n0, order.end());  // the other rows, in batch order
    f.rest = torch::tensor(std::vector<int64_t>(order.begin() + n0, order.end()), torch::kLong);
    f.sub = trim_padding(select_rows(b, f.idx));
    AutocastGuard cast(bf16);
    const bool want_ent = cfg_.entropy_coef > 0;
    if (bf16 && !replay) f.cur = response_logprobs(m_.policy, f.sub, true, want_ent);
    if (cfg_.critic()) f.values = response_values(m_.value_trunk, m_.value_head, f.sub);
    first_ = std::move(f);
  }
  {
    torch::NoGradGuard ng;
    AutocastGuard cast(bf16);
    // The rows the first micro-batch did not cover, and (N, T) tensors with both parts in place.
    const bool have_rest = !first_ || first_->rest.numel() > 0;
    const RolloutBatch rb = first_ && have_rest ? select_rows(b, first_->rest) : b;
    auto assemble = [&](const torch::Tensor& from_first, const torch::Tensor& from_rest) {
      if (!first_) return from_rest;
      auto out = torch::zeros({N, b.resp_len()}, torch::kFloat);
      auto ff = from_first.detach().to(torch::kFloat);
      out.index_copy_(0, first_->idx, torch::constant_pad_nd(ff, {0, b.resp_len() - ff.size(1)}));
      if (from_rest.defined()) out.index_copy_(0, first_->rest, from_rest);
      return out;
    };
    // max |log-prob of a plain forward - generation's| over these rows (fills old_logp there).
    auto recompute = [&](const std::vector<int64_t>& rows, bool fill) {
      if (rows.empty()) return;
      auto idx = torch::tensor(rows, torch::kLong);
      RolloutBatch sub = select_rows(b, idx);
      auto lp = response_logprobs(m_.policy, sub, fill, false);
      gen_diff = std::max(gen_diff, ((lp.logp - sub.gen_logprobs).abs() * sub.mask).max().item<double>());
      if (!fill) return;
      old_logp.index_copy_(0, idx, lp.logp);
      others_ent_sum += lp.entropy.sum().item<double>();
      others_ent_tok += sub.mask.sum().item<double>();
    };
    if (bf16 && !replay) {
      TokenLogprobs cur;
      if (have_rest) cur = response_logprobs(m_.policy, rb, true, false);
      old_logp = assemble(first_ ? first_->cur.logp : torch::Tensor(), cur.logp);
      entropy = assemble(first_ ? first_->cur.entropy : torch::Tensor(), cur.entropy);
      gen_diff = ((old_logp - b.gen_logprobs).abs() * mask).max().item<double>();
    } else if (bf16) {
      old_logp = b.gen_logprobs.clone();
      recompute(others, true);  // the update's precision for the rows it recomputes anyway
    }
    if (replay) {
      // The replayed rows' log-probs are the generator's by construction, so the check that
      // generation and training agree runs on a few of them through a plain forward.
      const int64_t n = std::min<int64_t>(cfg_.replay_check_rows, static_cast<int64_t>(replayed.size()));
      recompute(std::vector<int64_t>(replayed.begin(), replayed.begin() + n), false);
    }
    ref_logp = response_logprobs(m_.reference, b).logp;
    if (cfg_.critic()) {
      torch::Tensor v;
      if (have_rest) v = response_values(m_.value_trunk, m_.value_head, rb);
      values = assemble(first_ ? first_->values : torch::Tensor(), v);
    }
  }
  rec["replayed_rows"] = static_cast<int64_t>(replayed.size());
  if (!bf16) old_logp = b.gen_logprobs;
  auto kl_tok = kl_per_token(old_logp, ref_logp, kl_est_) * mask;
  auto seq_kl = kl_tok.sum(1);
  const double beta = kl_.beta();
  double entropy_mean = entropy.defined() ? masked_mean(entropy, mask).item<double>() : 0.0;
  Advantages adv = compute_advantages(b, scores, kl_tok, values, beta, rec);
  const double t3 = now_s();

  begin_phase("ppo::update");
  UpdateChecks chk;
  nlohmann::json up = update(b, old_logp, adv, &chk);
  phase.reset();
  const double t4 = now_s();
  // The generator's log-probs must equal the trainer's recomputed ones (importance ratio 1 at the
  // start): checked on the rows the update forwards before its first optimiser step (all rows in
  // bf16, where the old policy has its own forward).
  // (fp32 without replay: those rows; with replay the plain-forward rows above count too.)
  if (gen_diff < 0 || (replay && !bf16)) gen_diff = std::max(gen_diff, chk.gen_diff);
  if (bf16 && replay)  // every row's entropy before the first step: replayed forward + recomputed rows
    entropy_mean = (others_ent_sum + chk.replay_ent_sum) / std::max(1.0, others_ent_tok + chk.replay_ent_tok);
  else if (!entropy.defined())
    entropy_mean = chk.entropy;
  rec["logprob_gen_max_diff"] = gen_diff;
  // Under bf16 both sides round their products to bf16 along different paths (decode engine vs
  // training forward): differences of a few 1e-3 nats are expected there.
  const double tol = bf16 ? std::max(cfg_.ratio_check_tol, 0.05) : cfg_.ratio_check_tol;
  if (gen_diff > tol)
    std::cerr << "warning: iteration " << iteration_ + 1 << ": generation's log-probs differ from the recomputed ones by "
              << gen_diff << " nats (tolerance " << tol
              << "); the importance ratios do not start at 1 (different weights or a numerics problem)\n";

  const double kl_mean = seq_kl.mean().item<double>();
  kl_.update(kl_mean, N);
  ++iteration_;

  const double resp_tokens = mask.sum().item<double>();
  int64_t unfinished = 0;
  for (const auto& r : ro.rows) unfinished += r.finished ? 0 : 1;
  rec["reward"] = norm_mean;
  rec["reward_raw"] = raw_mean;
  rec["reward_shaped"] = scores.mean().item<double>();
  if (auto* sum = dynamic_cast<SumReward*>(reward_.get()))
    for (auto& [name, m] : sum->last_means()) rec["reward/" + name] = m;
  rec["kl"] = kl_mean;
  rec["kl_k1"] = ((old_logp - ref_logp) * mask).sum(1).mean().item<double>();
  rec["kl_k3"] = (kl_per_token(old_logp, ref_logp, KlEstimator::K3) * mask).sum(1).mean().item<double>();
  rec["beta"] = beta;
  rec["beta_next"] = kl_.beta();
  rec["entropy"] = entropy_mean;
  rec["response_len"] = resp_tokens / N;
  rec["unfinished_frac"] = static_cast<double>(unfinished) / N;
  rec.update(up);
  rec["time_generate"] = t1 - t0;
  rec["time_score"] = t2 - t1;
  rec["time_forward"] = t3 - t2;
  rec["time_update"] = t4 - t3;
  rec["tokens_per_s"] = resp_tokens / std::max(1e-9, t4 - t0);
  rec["rows"] = N;

  if (samples) {
    for (int64_t i = 0; i < std::min<int64_t>(N, cfg_.samples_per_log); ++i)
      samples->push_back({ro.prompts[i], ro.responses[i], rs.score[i], rs.raw[i], seq_kl[i].item<double>(),
                          ro.rows[i].finished});
  }
  return rec;
}

nlohmann::json PpoTrainer::state_json() const {
  return {{"iteration", iteration_}, {"beta", kl_.beta()}, {"ptx_pos", ptx_pos_}};
}

void PpoTrainer::restore_state(const nlohmann::json& j) {
  iteration_ = j.value("iteration", int64_t{0});
  kl_.set_beta(j.value("beta", cfg_.kl_coef));
  ptx_pos_ = j.value("ptx_pos", int64_t{0});
}

}  // namespace rlhf::rl
