// The pipeline's reward-model stage: candidates from the SFT model, simulated-annotator labels,
// reward-model training, and evaluation against the gold judge on held-out prompts.
#include "rlhf/pipeline/stage_rm.h"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <set>

#include "rlhf/data/preference.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/world/judge.h"
#include "rlhf/world/prompts.h"

namespace rlhf::pipeline {

namespace {

// The text with invalid UTF-8 (partial characters from byte-level sampling) replaced by U+FFFD, so
// what is trained on is exactly what the JSONL files hold.
std::string valid_utf8(const std::string& s) {
  return io::json::parse(io::json(s).dump(-1, ' ', false, io::json::error_handler_t::replace)).get<std::string>();
}

// Distinct, non-blank responses of one prompt, in sampling order.
std::vector<std::string> distinct(const std::vector<std::string>& raw, int64_t& dropped) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& r0 : raw) {
    std::string r = valid_utf8(r0);
    bool blank = std::all_of(r.begin(), r.end(), [](unsigned char c) { return std::isspace(c); });
    if (blank || !seen.insert(r).second) {
      ++dropped;
      continue;
    }
    out.push_back(r);
  }
  return out;
}

// Levels from scores, higher = better; equal scores share a level.
std::vector<int> levels_from_scores(const std::vector<double>& s) {
  std::vector<double> sorted(s);
  std::sort(sorted.begin(), sorted.end(), std::greater<double>());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  std::vector<int> level;
  for (double v : s) level.push_back(static_cast<int>(std::find(sorted.begin(), sorted.end(), v) - sorted.begin()));
  return level;
}

std::vector<std::string> prompt_texts(const std::vector<world::WorldPrompt>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.prompt);
  return out;
}

}  // namespace

nlohmann::json run_rm_stage(const RmStageConfig& cfg, const CandidateSampler& sampler_in) {
  if (cfg.sft_dir.empty()) throw Error("rm stage: no SFT checkpoint given");
  if (cfg.k < 2) throw Error("rm stage: k must be >= 2 responses per prompt (got " + std::to_string(cfg.k) + ")");
  if (cfg.annotators < 1) throw Error("rm stage: annotators must be >= 1");
  cfg.annotator.validate();
  io::make_dirs(cfg.out_dir);
  CandidateSampler sampler =
      sampler_in ? sampler_in : checkpoint_sampler(cfg.sft_dir, cfg.temperature, cfg.max_new_tokens, cfg.rm.device);

  // 1. Candidates for training prompts, labelled by the simulated annotators.
  auto train_prompts = world::sample_prompts(world::Split::Train, cfg.train_prompts, cfg.seed);
  auto train_cands = sampler(prompt_texts(train_prompts), cfg.k, cfg.seed * 2 + 1);
  world::AnnotatorPool pool(cfg.annotators, cfg.annotator);
  std::vector<data::PreferenceGroup> train;
  int64_t dropped = 0, too_few = 0, agree = 0, agree_n = 0;
  for (size_t p = 0; p < train_prompts.size(); ++p) {
    const std::string& prompt = train_prompts[p].prompt;
    auto rs = distinct(train_cands.at(p), dropped);
    if (rs.size() < 2) {
      ++too_few;
      continue;
    }
    int a = static_cast<int>(p % cfg.annotators);
    std::vector<double> gold;
    for (const auto& r : rs) gold.push_back(world::judge(prompt, r).gold);
    auto tally = [&](size_t better, size_t worse) {
      if (gold[better] == gold[worse]) return;
      ++agree_n;
      agree += gold[better] > gold[worse];
    };
    if (cfg.rankings) {
      data::PreferenceGroup g;
      g.prompt = prompt;
      g.responses = rs;
      g.level.assign(rs.size(), 0);
      auto order = pool.rank(prompt, rs, a);  // best first
      for (size_t i = 0; i < order.size(); ++i) g.level[order[i]] = static_cast<int>(i);
      for (size_t i = 0; i < order.size(); ++i)
        for (size_t j = i + 1; j < order.size(); ++j) tally(order[i], order[j]);
      g.annotator = pool.id(a);
      g.gold = gold;
      g.format = "ranking";
      train.push_back(std::move(g));
    } else {
      for (size_t i = 0; i < rs.size(); ++i)
        for (size_t j = i + 1; j < rs.size(); ++j) {
          auto lab = pool.label_pair(prompt, rs[i], rs[j], a);
          size_t c = lab.first_preferred ? i : j, w = lab.first_preferred ? j : i;
          data::PreferenceGroup g;
          g.prompt = prompt;
          g.responses = {rs[c], rs[w]};
          g.level = {0, 1};
          g.margin = lab.strength;
          g.annotator = pool.id(a);
          g.gold = {gold[c], gold[w]};
          g.format = "pair";
          tally(c, w);
          train.push_back(std::move(g));
        }
    }
  }
  if (train.empty()) throw Error("rm stage: the SFT model gave fewer than 2 distinct responses for every prompt");
  data::write_preferences(io::join_path(cfg.out_dir, "train_prefs.jsonl"), train);

  // 2. Held-out prompts (val split), ordered by the gold judge.
  auto eval_prompts = world::sample_prompts(world::Split::Val, cfg.eval_prompts, cfg.seed + 7);
  const int eval_k = cfg.eval_k > 0 ? cfg.eval_k : cfg.k;
  if (eval_k < 2) throw Error("rm stage: eval_k must be >= 2 responses per held-out prompt");
  auto eval_cands = sampler(prompt_texts(eval_prompts), eval_k, cfg.seed * 2 + 2);
  std::vector<data::PreferenceGroup> heldout;
  for (size_t p = 0; p < eval_prompts.size(); ++p) {
    auto rs = distinct(eval_cands.at(p), dropped);
    if (rs.size() < 2) {
      ++too_few;
      continue;
    }
    data::PreferenceGroup g;
    g.prompt = eval_prompts[p].prompt;
    g.responses = rs;
    for (const auto& r : rs) g.gold.push_back(world::judge(g.prompt, r).gold);
    g.level = levels_from_scores(g.gold);
    g.annotator = "gold";
    g.format = "ranking";
    heldout.push_back(std::move(g));
  }
  data::write_preferences(io::join_path(cfg.out_dir, "heldout_gold.jsonl"), heldout);

  // 3. Train and evaluate.
  reward::RewardTrainConfig rm = cfg.rm;
  rm.model = cfg.sft_dir;
  rm.out = io::join_path(cfg.out_dir, "model");
  auto res = reward::train_reward_model(rm, train, heldout);
  nlohmann::json s = {{"accuracy_vs_gold", res.eval.accuracy.value},
                      {"accuracy_ci95", {res.eval.accuracy.lo, res.eval.accuracy.hi}},
                      {"spearman_gold", res.eval.spearman},
                      {"pearson_gold", res.eval.pearson},
                      {"length_longer_accuracy", res.eval.length_longer_accuracy},
                      {"length_shorter_accuracy", res.eval.length_shorter_accuracy},
                      {"ece", res.eval.ece},
                      {"n", res.eval.n},
                      {"heldout_records", static_cast<int64_t>(heldout.size())},
                      {"train_records", static_cast<int64_t>(train.size())},
                      {"train_accuracy", res.train_accuracy.empty() ? 0.0 : res.train_accuracy[0]},
                      {"annotator_gold_agreement", agree_n ? static_cast<double>(agree) / agree_n : 0.0},
                      {"dropped_responses", dropped},
                      {"prompts_with_too_few_responses", too_few},
                      {"model", rm.out}};
  auto ej = res.eval.to_json();
  if (ej.contains("accuracy_by_gold_gap")) s["accuracy_by_gold_gap"] = ej["accuracy_by_gold_gap"];
  io::write_json_atomic(io::join_path(cfg.out_dir, "stage.json"), s);
  return s;
}

RmStageConfig rm_stage_config(const PipelineContext& ctx) {
  const PipelinePreset& p = ctx.preset;
  RmStageConfig c;
  c.sft_dir = io::join_path(ctx.dir("sft"), "final");
  c.out_dir = ctx.dir("rm");
  c.seed = p.seed;
  c.max_new_tokens = p.max_new_tokens;
  c.rm.device = "cpu";
  c.rm.progress_tty = ctx.progress_tty;
  c.rm.resume = true;  // an interrupted stage continues from its checkpoints
  c.rm.train.threads = p.threads;
  c.rm.train.seed = p.seed;
  c.rm.train.weight_decay = 0.0;
  if (p.name == "tiny") {
    c.train_prompts = 24;
    c.eval_prompts = 8;
    c.k = 3;
    c.rm.train.steps = 10;
    c.rm.train.batch_size = 4;
    c.rm.train.lr = 1e-3;
    c.rm.train.warmup_steps = 2;
    c.rm.train.log_every = 5;
  } else {
    // Measured on the default SFT model (docs/reward.md, "The embedded world"): 4x the prompts at
    // the same training cost and the likelihood term raised held-out accuracy vs gold from 0.65 to
    // 0.77 (3,042 pairs; 0.71 -> 0.83 on this stage's own held-out set). Sampling is cheap next to
    // training, which stays at 300 steps of 8 rankings.
    // 8 samples per training prompt (more comparisons per prompt: 0.825 -> 0.861 on the stage's
    // held-out pairs in docs/reward.md); the held-out protocol stays at 4 samples per val prompt.
    c.train_prompts = 2400;
    c.eval_prompts = 150;
    c.k = 8;
    c.eval_k = 4;
    c.rm.train.steps = 300;
    c.rm.train.batch_size = 8;
    c.rm.train.lr = 3e-4;
    c.rm.train.warmup_steps = 20;
    c.rm.train.log_every = 25;
    c.rm.lm_coef = 0.1;
    c.rm.reference_max = 1000;
  }
  return c;
}

PipelineStage rm_pipeline_stage() {
  return {"rm", [](PipelineContext& ctx) { return run_rm_stage(rm_stage_config(ctx)); }};
}

}  // namespace rlhf::pipeline
