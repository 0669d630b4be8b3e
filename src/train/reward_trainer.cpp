// Reward-model trainer: preference groups -> micro-batches -> reward_loss, driven by the shared
// run loop (checkpoints, metrics.jsonl, resume); then normalisation statistics, ensemble manifest,
// held-out evaluation and train_summary.json.
#include "rlhf/reward/trainer.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <numeric>
#include <random>

#include "rlhf/data/preference_batch.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/runtime.h"
#include "rlhf/reward/losses.h"
#include "rlhf/train/loop.h"
#include "rlhf/train/trainer.h"
#include "rlhf/util/flags.h"

namespace rlhf::reward {

void RewardTrainConfig::validate() const {
  if (model.empty()) throw Error("--model: required (the checkpoint folder the reward model starts from)");
  if (out.empty()) throw Error("--out: required (the folder to write the reward model to)");
  parse_ranking_loss(ranking_loss);
  parse_tie_mode(ties);
  if (margin_scale < 0) throw Error("--margin-scale: must be >= 0");
  if (center_coef < 0) throw Error("--center-coef: must be >= 0");
  if (!(lm_coef >= 0) || !std::isfinite(lm_coef)) throw Error("--lm-coef: must be a finite number >= 0");
  parse_lm_mode(lm_mode);
  if (max_len < 0) throw Error("--max-len: must be >= 0 (0 = the model's context length)");
  if (ensemble < 1 || ensemble > 64) throw Error("--ensemble: must be in 1..64");
  if (reference_max < 1) throw Error("--reference-max: must be >= 1");
  train.validate();
}

namespace {
// Record indices of one epoch, shuffled by (seed, epoch) so a resume continues the same order.
std::vector<int64_t> epoch_order(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 1);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

// The first records of `g` holding at most `max_responses` responses (at least one record): the
// sample the training accuracy is measured on, bounded in forward passes whatever K is.
std::vector<data::PreferenceGroup> cap(const std::vector<data::PreferenceGroup>& g, size_t max_responses) {
  std::vector<data::PreferenceGroup> out;
  size_t n = 0;
  for (const auto& r : g) {
    if (!out.empty() && n + r.responses.size() > max_responses) break;
    n += r.responses.size();
    out.push_back(r);
  }
  return out;
}
}  // namespace

RewardStats measure_reward_stats(RewardModel& model, int member, const std::vector<data::PreferenceGroup>& groups,
                                 int64_t max_items, const std::string& label) {
  std::vector<std::string> prompts, responses;
  for (const auto& g : groups)
    for (const auto& r : g.responses) {
      if (static_cast<int64_t>(prompts.size()) >= max_items) break;
      prompts.push_back(g.prompt);
      responses.push_back(r);
    }
  RewardStats s;
  s.reference = label;
  if (prompts.empty()) return s;
  const auto r = model.score(prompts, responses, 32).members.at(member);  // raw scores of that member
  double mean = std::accumulate(r.begin(), r.end(), 0.0) / r.size(), ss = 0;
  for (double v : r) ss += (v - mean) * (v - mean);
  s.mean = mean;
  s.stdev = std::max(1e-6, std::sqrt(ss / r.size()));
  s.n = static_cast<int64_t>(r.size());
  return s;
}

RewardTrainResult train_reward_model(const RewardTrainConfig& cfg, const std::vector<data::PreferenceGroup>& train_in,
                                     const std::vector<data::PreferenceGroup>& heldout,
                                     const std::vector<data::PreferenceGroup>& reference) {
  cfg.validate();
  RewardTrainResult res;
  res.out = cfg.out;
  const torch::Device device = parse_device(cfg.device);
  LossOptions lopts;
  lopts.ranking = parse_ranking_loss(cfg.ranking_loss);
  lopts.ties = parse_tie_mode(cfg.ties);
  lopts.center_coef = cfg.center_coef;

  // Under ties=ignore a record without a strict pair gives no gradient: leave it out (counted).
  std::vector<data::PreferenceGroup> train;
  for (const auto& g : train_in) {
    if (lopts.ties == TieMode::Ignore && !g.has_strict_pair())
      ++res.tie_only_dropped;
    else
      train.push_back(g);
  }
  if (train.empty())
    throw Error("rm train: no training records with a preference (" + std::to_string(res.tie_only_dropped) +
                " tie-only records; use --ties loss to train on ties)");
  res.records = static_cast<int64_t>(train.size());

  std::shared_ptr<Tokenizer> tok = load_tokenizer(cfg.model);
  io::make_dirs(cfg.out);
  std::vector<RewardNet> nets;
  std::vector<RewardModelInfo> infos;
  int64_t max_len = 0;
  std::vector<data::TokenizedGroup> tok_train, tok_eval;
  const int64_t pad = data::reward_pad_id(*tok);

  for (int m = 0; m < cfg.ensemble; ++m) {
    const uint64_t seed = cfg.train.seed + static_cast<uint64_t>(m);
    torch::manual_seed(seed);
    RewardNet net = init_reward_net(cfg.model, seed);
    if (cfg.lm_coef > 0) {
      LmMode mode = parse_lm_mode(cfg.lm_mode);
      net->enable_lm_term(cfg.lm_coef, mode);
      // The reference of "ref" is the checkpoint the trunk starts from (frozen).
      if (mode == LmMode::Ref) net->set_lm_reference(load_checkpoint(cfg.model, device).model);
    }
    net->to(device);
    net->train();
    if (!max_len) {
      int64_t ctx = net->trunk->config().max_seq;
      max_len = cfg.max_len ? std::min(cfg.max_len, ctx) : ctx;
      tok_train = data::tokenize_groups(train, *tok, max_len, &res.truncated);
      tok_eval = data::tokenize_groups(heldout, *tok, max_len);
    }
    RewardModelInfo info;
    info.loss = cfg.ranking_loss;
    info.ties = cfg.ties;
    info.margin_scale = cfg.margin_scale;
    info.center_coef = cfg.center_coef;
    info.max_len = max_len;
    info.base = cfg.model;
    info.lm_mode = cfg.lm_mode;
    info.seed = seed;

    TrainConfig tc = cfg.train;
    tc.seed = seed;
    Trainer trainer(named_params(*net), tc);
    trainer.state().seed = seed;
    const std::string mdir = cfg.ensemble > 1 ? io::join_path(cfg.out, "member_" + std::to_string(m)) : cfg.out;
    io::make_dirs(mdir);

    TrainLoop loop;
    loop.run_dir = io::join_path(mdir, "run");
    loop.label = cfg.ensemble > 1 ? "rm[" + std::to_string(m) + "]" : "rm";
    loop.progress_tty = cfg.progress_tty;
    std::vector<int64_t> order;
    int64_t order_epoch = -1;
    loop.micro_loss = [&](int64_t) {
      TrainerState& st = trainer.state();
      std::vector<int64_t> pick;
      while (static_cast<int64_t>(pick.size()) < tc.batch_size) {
        if (st.position >= static_cast<int64_t>(tok_train.size())) st.position = 0, ++st.epoch;
        if (order_epoch != st.epoch) order = epoch_order(tok_train.size(), seed, st.epoch), order_epoch = st.epoch;
        pick.push_back(order[st.position++]);
        if (static_cast<int64_t>(pick.size()) >= static_cast<int64_t>(tok_train.size())) break;
      }
      auto batch = data::collate_groups(tok_train, pick, pad, cfg.margin_scale);
      auto r = net->forward(batch.tokens.to(device), batch.last_index.to(device), batch.response_start.to(device));
      auto parts = reward_loss(r, batch.groups, lopts);
      // Loop contract: a SUM over units (records) and the unit count; the step divides.
      return MicroLoss{parts.preference_sum + parts.centering_sum, static_cast<double>(pick.size()),
                       batch.real_tokens};
    };
    if (!tok_eval.empty()) {
      loop.eval_loss = [&]() {
        bool was = net->is_training();
        net->eval();
        double sum = 0;
        int64_t n = 0, limit = tc.eval_batches > 0 ? tc.eval_batches * tc.batch_size : INT64_MAX;
        for (int64_t s = 0; s < static_cast<int64_t>(tok_eval.size()) && s < limit; s += tc.batch_size) {
          std::vector<int64_t> pick;
          for (int64_t i = s; i < std::min<int64_t>(tok_eval.size(), s + tc.batch_size); ++i) pick.push_back(i);
          auto batch = data::collate_groups(tok_eval, pick, pad, cfg.margin_scale);
          auto parts = reward_loss(
              net->forward(batch.tokens.to(device), batch.last_index.to(device), batch.response_start.to(device)),
              batch.groups, lopts);
          sum += parts.preference_sum.item<double>();
          n += parts.groups_with_terms;
        }
        if (was) net->train();
        return n ? sum / n : 0.0;
      };
    }
    loop.save_model = [&](const std::string& dir) { save_reward_model(dir, net, *tok, info); };
    loop.load_model = [&](const std::string& dir) { load_reward_weights(dir, net); };
    TrainResult tr = run_training(trainer, loop, cfg.resume);
    net->eval();

    RewardModel single({net}, {info}, tok, max_len);
    info.stats = measure_reward_stats(single, 0, reference.empty() ? train : reference, cfg.reference_max,
                                      reference.empty() ? "training responses" : "reference set");
    auto sample = cap(train, static_cast<size_t>(cfg.reference_max));
    auto acc = eval::evaluate_rewards(sample, score_groups(single, sample).mean);
    save_reward_model(mdir, net, *tok, info);
    res.first_loss.push_back(tr.first_loss);
    res.last_loss.push_back(tr.last_loss);
    res.train_accuracy.push_back(acc.accuracy.value);
    res.stats.push_back(info.stats);
    nets.push_back(net);
    infos.push_back(info);
  }
  if (cfg.ensemble > 1) write_ensemble_manifest(cfg.out, cfg.ensemble, {{"seeds_from", cfg.train.seed}});

  nlohmann::json summary = {{"records", res.records},
                            {"tie_only_dropped", res.tie_only_dropped},
                            {"truncated_sequences", res.truncated},
                            {"max_len", max_len},
                            {"members", cfg.ensemble},
                            {"first_loss", res.first_loss},
                            {"last_loss", res.last_loss},
                            {"train_accuracy", res.train_accuracy}};
  if (!heldout.empty()) {
    RewardModel ens(nets, infos, tok, max_len);
    auto gs = score_groups(ens, heldout);
    res.eval = eval::evaluate_rewards(heldout, gs.mean, cfg.ensemble > 1 ? gs.stdev : std::vector<std::vector<double>>{});
    res.has_eval = true;
    summary["eval"] = res.eval.to_json();
    io::write_json_atomic(io::join_path(cfg.out, "eval.json"), res.eval.to_json());
  }
  io::write_json_atomic(io::join_path(cfg.out, "train_summary.json"), summary);
  return res;
}

void add_reward_train_flags(Flags& f) {
  TrainConfig d;
  d.steps = 300;
  d.batch_size = 8;
  d.lr = 1e-4;
  d.warmup_steps = 20;
  d.weight_decay = 0.0;
  d.log_every = 50;
  add_train_flags(f, d);
  f.add("model", "", "checkpoint folder the trunk starts from (usually the SFT model)");
  f.add("out", "", "reward-model folder to write");
  f.add_choice("ranking-loss", "pairwise", {"pairwise", "plackett-luce"},
               "pairwise: all C(K,2) pairs of a ranking, each record weighted equally (InstructGPT); "
               "plackett-luce: the listwise likelihood");
  f.add_choice("ties", "ignore", {"ignore", "loss"},
               "ignore: ties give no gradient; loss: -1/2(log σ(d) + log σ(-d)) pulls tied rewards together");
  f.add("margin-scale", "0", "margin = this * the record's margin/strength in -log σ(r_c - r_r - margin) (Llama 2); 0 = off");
  f.add("center-coef", "0", "weight of the centring penalty (mean reward of each record)^2; 0 = off");
  f.add("lm-coef", "0",
        "likelihood term: reward += c * log-likelihood of the response under the trunk's LM head, c learned from this "
        "initial value; 0 = off (docs/reward.md)");
  f.add_choice("lm-mode", "sum", {"sum", "mean", "ref"},
               "how the likelihood term enters: sum of the response's log-probs (favours short answers), their "
               "mean, or the sum minus the --model checkpoint's (DPO-style log(p_RM/p_ref)) (docs/reward.md)");
  f.add("max-len", "0", "longest input in tokens, prompt cut from the left; 0 = the model's context");
  f.add("ensemble", "1", "members to train (seed + i each); scoring reports their mean and std");
  f.add("reference-max", "2000", "responses used to measure the normalisation mean/std (and the training accuracy)");
  f.add("device", "cpu", "cpu or cuda[:N]");
  f.add_bool("resume", "continue interrupted runs from their checkpoints in OUT/run (OUT/member_i/run)");
}

RewardTrainConfig reward_train_config_from_flags(const Flags& f) {
  RewardTrainConfig c;
  c.train = train_config_from_flags(f);
  c.model = f.str("model");
  c.out = f.str("out");
  c.ranking_loss = f.str("ranking-loss");
  c.ties = f.str("ties");
  c.margin_scale = f.num("margin-scale");
  c.center_coef = f.num("center-coef");
  c.lm_coef = f.num("lm-coef");
  c.lm_mode = f.str("lm-mode");
  c.max_len = f.integer("max-len");
  c.ensemble = static_cast<int>(f.integer("ensemble"));
  c.reference_max = f.integer("reference-max");
  c.device = f.str("device");
  c.resume = f.flag("resume");
  c.validate();
  return c;
}

}  // namespace rlhf::reward
