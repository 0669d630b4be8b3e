// rlhf pipeline: world data -> pretrain -> SFT -> evaluation in one run folder (see
// rlhf/pipeline/pipeline.h); every preset value can be overridden by a flag or --config key.
#include <iostream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/pipeline/pipeline.h"
#include "rlhf/util/flags.h"

namespace {

// Preset values overridable by a flag: "" = keep the preset's value.
void add_override(rlhf::Flags& f, const std::string& name, const std::string& help) {
  f.add(name, "", help + " (default: the preset's)");
}

int run(int argc, char** argv) {
  rlhf::Flags f("pipeline",
                "Run the stages in order (world data, pretrain, SFT, evaluation), each in its own subfolder of "
                "--out; complete stages are skipped, so rerunning resumes. Writes OUT/summary.json.");
  f.add("out", "", "run folder (required)");
  f.add_choice("preset", "default", {"tiny", "default"}, "sizes: tiny (tests, seconds) or default (the main job)");
  f.add_choice("algo", "ppo", {"ppo", "rloo", "grpo", "reinforce"}, "policy-optimisation algorithm of the ppo stage");
  f.add("seed", "0", "random seed of the whole run");
  f.add("threads", "0", "intra-op CPU threads (0 = all cores)");
  add_override(f, "corpus-tokens", "world pretraining corpus size (approximate tokens)");
  add_override(f, "vocab-size", "BPE vocabulary trained on the corpus");
  add_override(f, "n-layer", "transformer blocks");
  add_override(f, "n-head", "attention heads");
  add_override(f, "d-model", "residual width");
  add_override(f, "max-seq", "context length");
  add_override(f, "pretrain-steps", "pretraining optimizer steps");
  add_override(f, "pretrain-batch-size", "pretraining sequences per step");
  add_override(f, "pretrain-lr", "pretraining peak learning rate");
  add_override(f, "demos", "SFT demonstrations written by the world");
  add_override(f, "sft-steps", "SFT optimizer steps");
  add_override(f, "sft-batch-size", "SFT examples per step");
  add_override(f, "sft-lr", "SFT peak learning rate");
  add_override(f, "eval-prompts", "held-out test prompts for the gold evaluation");
  add_override(f, "max-new-tokens", "response length limit in the evaluation");
  add_override(f, "eval-temperature", "sampling temperature in the evaluation (0 = greedy)");
  add_override(f, "dtype", "training precision, fp32 or bf16");
  f.add_bool("live-progress", "force the live progress line even when stdout is not a terminal");
  if (!f.parse(argc, argv)) return 0;
  std::string out = f.str("out");
  if (out.empty()) throw rlhf::Error("--out: a run folder is required");

  auto p = rlhf::pipeline::pipeline_preset(f.str("preset"));
  long long seed = f.integer("seed");
  if (seed < 0) throw rlhf::Error("--seed: must be an integer >= 0 (got " + f.str("seed") + ")");
  p.seed = static_cast<uint64_t>(seed);
  p.threads = static_cast<int>(f.integer("threads"));
  if (p.threads < 0) throw rlhf::Error("--threads: must be >= 0 (got " + f.str("threads") + ")");
  auto set_int = [&](const char* name, auto& dst, long long lo) {
    if (f.str(name).empty()) return;
    long long v = f.integer(name);
    if (v < lo) throw rlhf::Error(std::string("--") + name + ": must be an integer >= " + std::to_string(lo) + " (got " + f.str(name) + ")");
    dst = static_cast<std::remove_reference_t<decltype(dst)>>(v);
  };
  auto set_num = [&](const char* name, double& dst, double lo, double hi) {
    if (f.str(name).empty()) return;
    f.require_range(name, lo, hi);
    dst = f.num(name);
  };
  set_int("corpus-tokens", p.corpus_tokens, 1000);
  set_int("vocab-size", p.vocab_size, 300);
  set_int("n-layer", p.model.n_layer, 1);
  set_int("n-head", p.model.n_head, 1);
  set_int("d-model", p.model.d_model, 8);
  set_int("max-seq", p.model.max_seq, 16);
  set_int("pretrain-steps", p.pretrain.steps, 1);
  set_int("pretrain-batch-size", p.pretrain.batch_size, 1);
  set_num("pretrain-lr", p.pretrain.lr, 1e-7, 1.0);
  set_int("demos", p.demos, 10);
  set_int("sft-steps", p.sft.steps, 1);
  set_int("sft-batch-size", p.sft.batch_size, 1);
  set_num("sft-lr", p.sft.lr, 1e-7, 1.0);
  set_int("eval-prompts", p.eval_prompts, 2);
  set_int("max-new-tokens", p.max_new_tokens, 1);
  set_num("eval-temperature", p.eval_temperature, 0.0, 10.0);
  if (!f.str("dtype").empty()) {
    if (f.str("dtype") != "fp32" && f.str("dtype") != "bf16")
      throw rlhf::Error("--dtype: unknown value \"" + f.str("dtype") + "\" (allowed: fp32|bf16)");
    p.pretrain.dtype = p.sft.dtype = f.str("dtype");
  }
  if (p.model.max_seq <= p.max_new_tokens)
    throw rlhf::Error("--max-new-tokens: must be below the context --max-seq (" + std::to_string(p.model.max_seq) + ")");
  p.pretrain.validate();
  p.sft.validate();

  rlhf::io::make_dirs(out);
  rlhf::io::write_json_atomic(rlhf::io::join_path(out, "run_config.json"), f.resolved());
  rlhf::pipeline::PipelineContext ctx;
  ctx.out = out;
  ctx.preset = p;
  ctx.progress_tty = f.flag("live-progress") ? 1 : -1;
  auto summary = rlhf::pipeline::run_pipeline(ctx, rlhf::pipeline::default_stages(f.str("algo")));
  std::cout << "pipeline: done -> " << rlhf::io::join_path(out, "summary.json") << "\n";
  return 0;
}
rlhf::cli::RegisterCommand reg("pipeline", "run world data, pretrain, SFT and evaluation in one run folder", run);
}  // namespace
