// Causal-LM pretraining from scratch on a text corpus (`rlhf pretrain`): reads the corpus (file
// or folder, documents separated by the end-of-text token), trains a byte-level BPE tokenizer on
// it when none is given, packs the tokens into fixed-length sequences, and trains a fresh
// Transformer with the shared loop. Output: RUN/final (checkpoint folder), RUN/metrics.jsonl,
// RUN/tokenizer/ (the tokenizer used, so a resume reuses it).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "rlhf/model/config.h"
#include "rlhf/train/config.h"

namespace rlhf {

struct PretrainConfig {
  std::string data;              // corpus: a text file or a folder of text files
  std::string out;               // run folder
  std::string tokenizer;         // tokenizer to use (see load_tokenizer); "" = train a BPE on the corpus
  int vocab_size = 4096;         // vocabulary of the trained BPE (ignored with --tokenizer)
  ModelConfig model;             // layout and sizes; vocab_size and the special ids come from the tokenizer
  double val_fraction = 0.02;    // share of the packed sequences held out for the validation loss
  bool resume = false;           // continue RUN from its newest checkpoint
  std::string device = "cpu";    // "cpu", "cuda", "cuda:N"
  TrainConfig train;             // the loop's settings (steps, lr, batch, ...)
  int progress_tty = -1;         // -1 detect; 0/1 force
};

// Runs (or resumes) pretraining. Returns the figures for summaries: {"checkpoint", "steps",
// "first_loss", "final_loss", "eval_loss", "tokens_per_s", "corpus_tokens", "train_sequences",
// "params", "vocab_size", "wall_s"}; also written to RUN/result.json.
nlohmann::json pretrain(const PretrainConfig& cfg);

}  // namespace rlhf
