// Supervised fine-tuning (`rlhf sft`): a checkpoint trained on JSONL demonstrations
// ({"prompt", "response"} or {"messages": [...]} through the checkpoint's chat template), with the
// loss only on response tokens and the EOS, right-padded batches with attention masks.
// Output: RUN/final (checkpoint folder with the chat template), RUN/metrics.jsonl, RUN/result.json.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rlhf/train/config.h"

namespace rlhf {

struct SftConfig {
  std::string model;               // checkpoint folder to start from (pretrained base)
  std::vector<std::string> data;   // training JSONL files
  std::string val_data;            // validation JSONL; "" = hold out val_fraction of `data`
  double val_fraction = 0.05;      // used without val_data (0 = no validation loss)
  std::string out;                 // run folder
  int64_t max_seq = 0;             // context for training examples; 0 = the model's max_seq
  // Pack several examples per row (block-diagonal causal mask, positions restarting per
  // example) instead of padding each to the longest; the loss is the same, the compute smaller.
  bool packing = false;
  bool resume = false;             // continue RUN from its newest checkpoint
  std::string device = "cpu";      // "cpu", "cuda", "cuda:N"
  TrainConfig train;               // the loop's settings
  int progress_tty = -1;           // -1 detect; 0/1 force
};

// Runs (or resumes) SFT. Returns {"checkpoint", "steps", "first_loss", "final_loss",
// "eval_loss", "eval_loss_before", "examples", "skipped", "skip_summary", "truncated",
// "tokens_per_s", "wall_s"}; also written to RUN/result.json. Skipped records are reported on
// stdout, never dropped silently.
nlohmann::json sft(const SftConfig& cfg);

}  // namespace rlhf
