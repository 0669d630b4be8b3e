// The pipeline's first stages: world data, pretraining, SFT, and the gold evaluation of the base
// and SFT models on held-out test prompts.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "rlhf/eval/metrics.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/pipeline/pipeline.h"
#include "rlhf/pipeline/stage_ppo.h"
#include "rlhf/pipeline/stage_rm.h"
#include "rlhf/train/pretrain.h"
#include "rlhf/train/sft.h"
#include "rlhf/world/world.h"

namespace rlhf::pipeline {

namespace {

nlohmann::json stage_world(PipelineContext& ctx) {
  const auto& p = ctx.preset;
  std::string dir = ctx.dir("world");
  world::CorpusConfig cc;
  cc.tokens = p.corpus_tokens;
  cc.seed = p.seed;
  std::ostringstream corpus;
  size_t approx = world::write_corpus(corpus, cc);
  io::write_file_atomic(io::join_path(dir, "corpus.txt"), corpus.str());

  world::DemoConfig dc;
  dc.n = p.demos;
  dc.seed = p.seed;
  std::string demos;
  for (const auto& d : world::make_demos(dc))
    demos += nlohmann::json{{"prompt", d.prompt}, {"response", d.response}}.dump() + "\n";
  io::write_file_atomic(io::join_path(dir, "sft_train.jsonl"), demos);

  std::string tests;
  auto prompts = world::sample_prompts(world::Split::Test, static_cast<size_t>(p.eval_prompts), p.seed + 1);
  for (const auto& w : prompts)
    tests += nlohmann::json{{"id", w.id}, {"kind", world::kind_name(w.kind)}, {"prompt", w.prompt}}.dump() + "\n";
  io::write_file_atomic(io::join_path(dir, "test_prompts.jsonl"), tests);
  return {{"corpus_approx_tokens", approx},
          {"corpus_bytes", corpus.str().size()},
          {"demos", p.demos},
          {"test_prompts", prompts.size()}};
}

nlohmann::json stage_pretrain(PipelineContext& ctx) {
  const auto& p = ctx.preset;
  PretrainConfig c;
  c.data = io::join_path(ctx.dir("world"), "corpus.txt");
  c.out = ctx.dir("pretrain");
  c.vocab_size = p.vocab_size;
  c.model = p.model;
  c.train = p.pretrain;
  c.train.seed = p.seed;
  c.train.threads = p.threads;
  c.resume = true;  // a rerun continues an interrupted stage
  c.progress_tty = ctx.progress_tty;
  io::write_json_atomic(io::join_path(c.out, "run_config.json"),
                        {{"model", c.model.to_hf_json()}, {"train", c.train.to_json()}, {"vocab_size", c.vocab_size}});
  return pretrain(c);
}

nlohmann::json stage_sft(PipelineContext& ctx) {
  const auto& p = ctx.preset;
  SftConfig c;
  c.model = io::join_path(ctx.dir("pretrain"), "final");
  c.data = {io::join_path(ctx.dir("world"), "sft_train.jsonl")};
  c.out = ctx.dir("sft");
  c.train = p.sft;
  c.train.seed = p.seed;
  c.train.threads = p.threads;
  c.resume = true;
  c.packing = true;  // same loss as padding (tests/train/packing_test.cpp), without the pad tokens
  c.progress_tty = ctx.progress_tty;
  io::write_json_atomic(io::join_path(c.out, "run_config.json"),
                        {{"train", c.train.to_json()}, {"packing", c.packing}});
  return sft(c);
}

std::string one_line(const std::string& s, size_t max = 90) {
  std::string o;
  for (char c : s) o += (c == '\n') ? ' ' : c;
  if (o.size() > max) o = o.substr(0, max - 3) + "...";
  return o;
}

nlohmann::json stage_eval(PipelineContext& ctx) {
  const auto& p = ctx.preset;
  std::vector<io::json> recs = io::read_jsonl(io::join_path(ctx.dir("world"), "test_prompts.jsonl"));
  std::vector<std::string> prompts;
  for (const auto& r : recs) prompts.push_back(r["prompt"].get<std::string>());
  std::string base_dir = io::join_path(ctx.dir("pretrain"), "final");
  std::string sft_dir = io::join_path(ctx.dir("sft"), "final");
  GoldEval base = gold_eval(base_dir, prompts, p.max_new_tokens, p.eval_temperature, p.seed + 2);
  GoldEval tuned = gold_eval(sft_dir, prompts, p.max_new_tokens, p.eval_temperature, p.seed + 2);

  std::vector<double> wins;
  std::string samples;
  for (size_t i = 0; i < prompts.size(); ++i) {
    double d = tuned.gold[i] - base.gold[i];
    wins.push_back(d > 1e-9 ? 1.0 : d < -1e-9 ? 0.0 : 0.5);
    samples += nlohmann::json{{"id", recs[i]["id"]},
                              {"kind", recs[i]["kind"]},
                              {"prompt", prompts[i]},
                              {"base", base.responses[i]},
                              {"base_gold", base.gold[i]},
                              {"sft", tuned.responses[i]},
                              {"sft_gold", tuned.gold[i]}}
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
               "\n";
  }
  io::write_file_atomic(io::join_path(ctx.dir("eval"), "samples.jsonl"), samples);
  auto win = eval::bootstrap_mean_interval(wins, 1000, p.seed + 3);

  std::cout << "\nsample responses on held-out test prompts (gold score in [-1, 1]):\n";
  for (size_t i = 0; i < prompts.size() && static_cast<int>(i) < p.samples_shown; ++i) {
    std::printf("  Human: %s\n", one_line(world::user_turn(prompts[i])).c_str());
    std::printf("    base [%+.2f]:%s\n", base.gold[i], one_line(base.responses[i]).c_str());
    std::printf("    sft  [%+.2f]:%s\n", tuned.gold[i], one_line(tuned.responses[i]).c_str());
  }
  std::printf("gold mean on %zu test prompts: base %.3f [%.3f, %.3f]  sft %.3f [%.3f, %.3f]  sft win rate vs base %.3f\n\n",
              prompts.size(), base.mean, base.lo, base.hi, tuned.mean, tuned.lo, tuned.hi, win.value);
  std::fflush(stdout);

  nlohmann::json summary = {
      {"base", {{"gold_mean", base.mean}, {"gold_ci95", {base.lo, base.hi}}}},
      {"sft",
       {{"gold_mean", tuned.mean},
        {"gold_ci95", {tuned.lo, tuned.hi}},
        {"win_rate_vs_base", win.value},
        {"win_rate_ci95", {win.lo, win.hi}}}}};
  return {{"prompts", prompts.size()},
          {"max_new_tokens", p.max_new_tokens},
          {"temperature", p.eval_temperature},
          {"samples", io::join_path(ctx.dir("eval"), "samples.jsonl")},
          {"summary", summary}};
}

}  // namespace

std::vector<PipelineStage> default_stages(const std::string& algo) {
  return {{"world", stage_world}, {"pretrain", stage_pretrain}, {"sft", stage_sft}, {"eval", stage_eval},
          rm_pipeline_stage(), ppo_pipeline_stage(algo)};
}

}  // namespace rlhf::pipeline
