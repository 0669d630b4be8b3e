// rlhf sft: supervised fine-tuning on JSONL demonstrations (see rlhf/train/sft.h).
#include <iostream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/train/sft.h"
#include "rlhf/util/flags.h"

namespace {
int run(int argc, char** argv) {
  rlhf::Flags f("sft",
                "Fine-tune a checkpoint on {\"prompt\", \"response\"} or {\"messages\": [...]} JSONL, with the loss "
                "only on response (assistant) tokens.");
  rlhf::TrainConfig td;
  td.steps = 300;
  td.batch_size = 16;
  td.lr = 3e-4;
  td.warmup_steps = 20;
  td.weight_decay = 0.0;
  f.add("model", "", "checkpoint folder to start from (required)");
  f.add_list("data", "training JSONL file(s) (required)");
  f.add("val-data", "", "validation JSONL (default: hold out --val-fraction of --data)");
  f.add("val-fraction", "0.05", "share of --data held out for the validation loss when --val-data is not given");
  f.add("max-seq", "0", "longest training example in tokens (0 = the model's context)");
  f.add_bool("packing",
             "pack several examples per row (block-diagonal causal mask, positions restarting per example) "
             "instead of padding each to the longest; same loss, less compute");
  rlhf::add_run_flags(f);
  rlhf::add_train_flags(f, td);
  if (!f.parse(argc, argv)) return 0;

  rlhf::SftConfig c;
  c.model = f.str("model");
  c.data = f.list("data");
  c.val_data = f.str("val-data");
  c.val_fraction = f.num("val-fraction");
  c.max_seq = f.integer("max-seq");
  if (c.max_seq < 0) throw rlhf::Error("--max-seq: must be >= 0 (got " + std::to_string(c.max_seq) + ")");
  c.packing = f.flag("packing");
  c.train = rlhf::train_config_from_flags(f);
  const rlhf::RunOptions run = rlhf::run_options_from_flags(f);
  c.out = run.out;
  c.device = run.device;
  c.resume = run.resume;
  auto r = rlhf::sft(c);
  std::cout << "sft: done -> " << r["checkpoint"].get<std::string>() << "  (validation loss " << r["eval_loss_before"]
            << " -> " << r["eval_loss"] << ")\n";
  return 0;
}
rlhf::cli::RegisterCommand reg("sft", "supervised fine-tuning on prompt/response or messages JSONL", run);
}  // namespace
