// TrainConfig validation and its flag table.
#include "rlhf/train/config.h"

#include <sstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/util/flags.h"

namespace rlhf {

namespace {
std::string num_text(double x) {
  std::ostringstream ss;
  ss.precision(10);
  ss << x;
  return ss.str();
}
void check(bool ok, const char* key, const std::string& allowed, const std::string& got) {
  if (!ok) throw Error(std::string("--") + key + ": must be " + allowed + " (got " + got + ")");
}
}  // namespace

void TrainConfig::validate() const {
  check(steps >= 1, "steps", "an integer >= 1", std::to_string(steps));
  check(batch_size >= 1, "batch-size", "an integer >= 1", std::to_string(batch_size));
  check(grad_accum >= 1, "grad-accum", "an integer >= 1", std::to_string(grad_accum));
  check(lr > 0 && lr <= 1, "lr", "in (0, 1]", num_text(lr));
  check(warmup_steps >= 0, "warmup-steps", "an integer >= 0", std::to_string(warmup_steps));
  check(min_lr_ratio >= 0 && min_lr_ratio <= 1, "min-lr-ratio", "in [0, 1]", num_text(min_lr_ratio));
  check(weight_decay >= 0 && weight_decay < 1, "weight-decay", "in [0, 1)", num_text(weight_decay));
  check(beta1 >= 0 && beta1 < 1, "beta1", "in [0, 1)", num_text(beta1));
  check(beta2 >= 0 && beta2 < 1, "beta2", "in [0, 1)", num_text(beta2));
  check(adam_eps > 0 && adam_eps < 1, "adam-eps", "in (0, 1)", num_text(adam_eps));
  check(grad_clip >= 0, "grad-clip", ">= 0 (0 = no clipping)", num_text(grad_clip));
  check(dtype == "fp32" || dtype == "bf16", "dtype", "one of fp32|bf16", "\"" + dtype + "\"");
  check(save_every >= 0, "save-every", "an integer >= 0 (0 = only at the end)", std::to_string(save_every));
  check(keep_checkpoints >= 1, "keep-checkpoints", "an integer >= 1", std::to_string(keep_checkpoints));
  check(eval_every >= 0, "eval-every", "an integer >= 0 (0 = only at the end)", std::to_string(eval_every));
  check(eval_batches >= 0, "eval-batches", "an integer >= 0 (0 = whole set)", std::to_string(eval_batches));
  check(log_every >= 1, "log-every", "an integer >= 1", std::to_string(log_every));
  check(threads >= 0, "threads", "an integer >= 0 (0 = all cores)", std::to_string(threads));
}

nlohmann::json TrainConfig::to_json() const {
  return {{"steps", steps},
          {"batch_size", batch_size},
          {"grad_accum", grad_accum},
          {"lr", lr},
          {"warmup_steps", warmup_steps},
          {"min_lr_ratio", min_lr_ratio},
          {"weight_decay", weight_decay},
          {"beta1", beta1},
          {"beta2", beta2},
          {"adam_eps", adam_eps},
          {"grad_clip", grad_clip},
          {"dtype", dtype},
          {"seed", seed},
          {"save_every", save_every},
          {"keep_checkpoints", keep_checkpoints},
          {"eval_every", eval_every},
          {"eval_batches", eval_batches},
          {"log_every", log_every},
          {"threads", threads}};
}

void add_train_flags(Flags& f, const TrainConfig& d) {
  f.add("steps", std::to_string(d.steps), "optimizer steps in the run");
  f.add("batch-size", std::to_string(d.batch_size), "sequences per micro-batch");
  f.add("grad-accum", std::to_string(d.grad_accum), "micro-batches per optimizer step (effective batch = batch-size x grad-accum)");
  f.add("lr", num_text(d.lr), "peak learning rate (AdamW)");
  f.add("warmup-steps", std::to_string(d.warmup_steps), "linear warmup steps before cosine decay");
  f.add("min-lr-ratio", num_text(d.min_lr_ratio), "cosine decay floor as a fraction of --lr");
  f.add("weight-decay", num_text(d.weight_decay), "AdamW weight decay (matrices and embeddings only; never norms or biases)");
  f.add("beta1", num_text(d.beta1), "AdamW beta1");
  f.add("beta2", num_text(d.beta2), "AdamW beta2");
  f.add("adam-eps", num_text(d.adam_eps), "AdamW epsilon");
  f.add("grad-clip", num_text(d.grad_clip), "clip the global gradient norm to this (0 = off)");
  f.add_choice("dtype", d.dtype, {"fp32", "bf16"}, "compute precision (bf16 = bf16 matrix products with fp32 master weights)");
  f.add("seed", std::to_string(d.seed), "random seed (init, data order, sampling)");
  f.add("save-every", std::to_string(d.save_every), "checkpoint every N steps, plus at the end (0 = only at the end)");
  f.add("keep-checkpoints", std::to_string(d.keep_checkpoints), "intermediate checkpoints kept");
  f.add("eval-every", std::to_string(d.eval_every), "validation loss every N steps, plus at the end (0 = only at the end)");
  f.add("eval-batches", std::to_string(d.eval_batches), "validation micro-batches per evaluation (0 = the whole set)");
  f.add("log-every", std::to_string(d.log_every), "plain progress line every N steps when stdout is not a terminal");
  f.add("threads", std::to_string(d.threads), "intra-op CPU threads (0 = all cores)");
}

TrainConfig train_config_from_flags(const Flags& f) {
  TrainConfig c;
  c.steps = f.integer("steps");
  c.batch_size = f.integer("batch-size");
  c.grad_accum = f.integer("grad-accum");
  c.lr = f.num("lr");
  c.warmup_steps = f.integer("warmup-steps");
  c.min_lr_ratio = f.num("min-lr-ratio");
  c.weight_decay = f.num("weight-decay");
  c.beta1 = f.num("beta1");
  c.beta2 = f.num("beta2");
  c.adam_eps = f.num("adam-eps");
  c.grad_clip = f.num("grad-clip");
  c.dtype = f.str("dtype");
  long long seed = f.integer("seed");
  if (seed < 0) throw Error("--seed: must be an integer >= 0 (got " + std::to_string(seed) + ")");
  c.seed = static_cast<uint64_t>(seed);
  c.save_every = f.integer("save-every");
  c.keep_checkpoints = f.integer("keep-checkpoints");
  c.eval_every = f.integer("eval-every");
  c.eval_batches = f.integer("eval-batches");
  c.log_every = f.integer("log-every");
  c.threads = static_cast<int>(f.integer("threads"));
  c.validate();
  return c;
}

void add_run_flags(Flags& f) {
  f.add("out", "", "run folder: checkpoints, metrics.jsonl, run_config.json (required)");
  f.add_choice("device", "cpu", {"cpu", "cuda"}, "where to train");
  f.add_bool("resume", "continue the run in --out from its newest checkpoint");
}

RunOptions run_options_from_flags(const Flags& f) {
  RunOptions r;
  r.out = f.str("out");
  r.device = f.str("device");
  r.resume = f.flag("resume");
  if (r.out.empty()) throw Error("--out: a run folder is required");
  io::make_dirs(r.out);
  io::write_json_atomic(io::join_path(r.out, "run_config.json"), f.resolved());
  return r;
}

}  // namespace rlhf
