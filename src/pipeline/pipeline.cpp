// The pipeline runner, its presets, and the gold evaluation of a checkpoint.
#include "rlhf/pipeline/pipeline.h"

#include <chrono>
#include <iostream>

#include "rlhf/eval/metrics.h"
#include "rlhf/generation/generate.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/world/judge.h"

namespace rlhf::pipeline {

PipelinePreset pipeline_preset(const std::string& name) {
  PipelinePreset p;
  p.name = name;
  p.model.arch = "gpt2";
  if (name == "tiny") {
    p.corpus_tokens = 60000;
    p.vocab_size = 512;
    p.model.n_layer = 2;
    p.model.n_head = 2;
    p.model.d_model = 32;
    p.model.max_seq = 64;
    p.pretrain.steps = 30;
    p.pretrain.batch_size = 8;
    p.pretrain.lr = 3e-3;
    p.pretrain.warmup_steps = 5;
    p.pretrain.log_every = 10;
    p.demos = 200;
    p.sft.steps = 20;
    p.sft.batch_size = 8;
    p.sft.lr = 1e-3;
    p.sft.warmup_steps = 2;
    p.sft.weight_decay = 0.0;
    p.sft.log_every = 10;
    p.eval_prompts = 16;
    p.max_new_tokens = 16;
    p.samples_shown = 2;
    return p;
  }
  if (name == "default") {
    p.corpus_tokens = 1200000;
    p.vocab_size = 2048;
    p.model.n_layer = 4;
    p.model.n_head = 4;
    p.model.d_model = 192;
    p.model.max_seq = 128;
    p.pretrain.steps = 600;
    p.pretrain.batch_size = 16;
    p.pretrain.lr = 2e-3;
    p.pretrain.warmup_steps = 40;
    p.pretrain.save_every = 100;
    p.pretrain.eval_every = 100;
    p.pretrain.log_every = 25;
    p.demos = 3000;
    p.sft.steps = 250;
    p.sft.batch_size = 16;
    p.sft.lr = 5e-4;
    p.sft.warmup_steps = 15;
    p.sft.weight_decay = 0.0;
    p.sft.save_every = 100;
    p.sft.eval_every = 50;
    p.sft.log_every = 25;
    p.eval_prompts = 200;
    p.max_new_tokens = 48;
    p.samples_shown = 6;
    return p;
  }
  throw Error("--preset: unknown preset \"" + name + "\" (allowed: tiny|default)");
}

std::string PipelineContext::dir(const std::string& stage) const { return io::join_path(out, stage); }

nlohmann::json run_pipeline(PipelineContext& ctx, const std::vector<PipelineStage>& stages) {
  io::make_dirs(ctx.out);
  std::string summary_path = io::join_path(ctx.out, "summary.json");
  if (!ctx.summary.is_object()) ctx.summary = nlohmann::json::object();
  ctx.summary["preset"] = ctx.preset.name;
  for (const auto& st : stages) {
    std::string marker = io::join_path(ctx.dir(st.name), "stage.json");
    nlohmann::json figures;
    if (io::file_exists(marker)) {
      figures = io::read_json(marker);
      figures["skipped"] = true;
      std::cout << "pipeline: stage " << st.name << " is complete (" << marker << "); skipping\n";
    } else {
      std::cout << "pipeline: stage " << st.name << "\n" << std::flush;
      io::make_dirs(ctx.dir(st.name));
      auto t0 = std::chrono::steady_clock::now();
      figures = st.run(ctx);
      figures["wall_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      io::write_json_atomic(marker, figures);
      figures["skipped"] = false;
    }
    // A stage may report figures under other top-level keys ("base", "sft" from the evaluation):
    // {"summary": {key: object}} is merged into the summary; the rest goes under the stage's name.
    if (figures.contains("summary")) {
      for (auto it = figures["summary"].begin(); it != figures["summary"].end(); ++it) {
        if (!ctx.summary.contains(it.key()) || !ctx.summary[it.key()].is_object())
          ctx.summary[it.key()] = nlohmann::json::object();
        ctx.summary[it.key()].update(it.value());
      }
      figures.erase("summary");
    }
    if (!ctx.summary.contains(st.name) || !ctx.summary[st.name].is_object())
      ctx.summary[st.name] = nlohmann::json::object();
    ctx.summary[st.name].update(figures);
    io::write_json_atomic(summary_path, ctx.summary);
  }
  return ctx.summary;
}

GoldEval gold_eval(const std::string& checkpoint_dir, const std::vector<std::string>& prompts, int64_t max_new_tokens,
                   double temperature, uint64_t seed) {
  Checkpoint ck = load_checkpoint(checkpoint_dir);
  if (!ck.tokenizer) throw Error(checkpoint_dir + ": no tokenizer files; cannot sample responses");
  const Tokenizer& tok = *ck.tokenizer;
  std::vector<std::vector<int64_t>> ids;
  bool bos = tok.add_bos_by_default() && tok.bos_id() >= 0;
  for (const auto& p : prompts) {
    std::vector<int64_t> row;
    if (bos) row.push_back(tok.bos_id());
    for (int32_t t : tok.encode(p)) row.push_back(t);
    int64_t room = ck.config.max_seq - max_new_tokens;
    if (room > 0 && static_cast<int64_t>(row.size()) > room) row.erase(row.begin(), row.end() - room);
    ids.push_back(std::move(row));
  }
  SamplingConfig sc;
  sc.temperature = temperature;
  sc.max_new_tokens = max_new_tokens;
  sc.seed = seed;
  if (tok.eos_id() >= 0) sc.stop_ids = std::vector<int64_t>{tok.eos_id()};
  ck.model->eval();
  auto rows = generate(ck.model, ids, sc);
  GoldEval ge;
  std::vector<std::pair<std::string, std::string>> items;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::vector<int32_t> t;
    for (int64_t x : rows[i].tokens)
      if (x != tok.eos_id()) t.push_back(static_cast<int32_t>(x));
    ge.responses.push_back(tok.decode(t, true));
    items.emplace_back(prompts[i], ge.responses.back());
  }
  for (const auto& s : world::judge_batch(items)) ge.gold.push_back(s.gold);
  auto ci = eval::bootstrap_mean_interval(ge.gold, 1000, seed);
  ge.mean = ci.value;
  ge.lo = ci.lo;
  ge.hi = ci.hi;
  return ge;
}

}  // namespace rlhf::pipeline
