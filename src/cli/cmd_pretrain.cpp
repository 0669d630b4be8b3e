// rlhf pretrain: causal-LM training from scratch on a text corpus (see rlhf/train/pretrain.h).
#include <iostream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/train/pretrain.h"
#include "rlhf/util/flags.h"

namespace {
int run(int argc, char** argv) {
  rlhf::Flags f("pretrain",
                "Train a causal LM from scratch on a text corpus (documents separated by <|endoftext|>), "
                "training its own BPE tokenizer when --tokenizer is not given.");
  rlhf::PretrainConfig d;
  rlhf::TrainConfig td;
  td.steps = 2000;
  td.batch_size = 16;
  td.lr = 1e-3;
  td.warmup_steps = 100;
  f.add("data", "", "corpus: a text file or a folder of text files (required)");
  f.add("tokenizer", "", "tokenizer to use (checkpoint folder, tokenizer.json, ...); empty = train a BPE");
  f.add("vocab-size", std::to_string(d.vocab_size), "vocabulary size of the trained BPE");
  f.add_choice("arch", d.model.arch, {"gpt2", "llama"}, "model layout");
  f.add("n-layer", "4", "transformer blocks");
  f.add("n-head", "4", "attention heads");
  f.add("d-model", "192", "residual width");
  f.add("max-seq", "128", "context length (training sequence length)");
  f.add("val-fraction", "0.02", "share of the packed sequences held out for the validation loss");
  rlhf::add_run_flags(f);
  rlhf::add_train_flags(f, td);
  if (!f.parse(argc, argv)) return 0;
  for (const char* k : {"n-layer", "n-head", "d-model", "max-seq"}) f.require_positive(k);

  rlhf::PretrainConfig c;
  c.data = f.str("data");
  c.tokenizer = f.str("tokenizer");
  c.vocab_size = static_cast<int>(f.integer("vocab-size"));
  c.model.arch = f.str("arch");
  c.model.n_layer = f.integer("n-layer");
  c.model.n_head = f.integer("n-head");
  c.model.d_model = f.integer("d-model");
  c.model.max_seq = f.integer("max-seq");
  if (c.model.arch == "llama") {
    c.model.bias = false;
    c.model.tie_embeddings = true;
  }
  c.val_fraction = f.num("val-fraction");
  c.train = rlhf::train_config_from_flags(f);
  const rlhf::RunOptions run = rlhf::run_options_from_flags(f);
  c.out = run.out;
  c.device = run.device;
  c.resume = run.resume;
  auto r = rlhf::pretrain(c);
  std::cout << "pretrain: done -> " << r["checkpoint"].get<std::string>() << "  (final loss " << r["final_loss"]
            << ", eval loss " << r["eval_loss"] << ")\n";
  return 0;
}
rlhf::cli::RegisterCommand reg("pretrain", "train a causal LM from scratch on a text corpus", run);
}  // namespace
