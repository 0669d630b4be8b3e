// Causal-LM training of a Transformer on batches from any source (packed corpus, SFT examples):
// the glue between data, model, checkpoint folder and the shared loop. `rlhf pretrain` and
// `rlhf sft` (and the pipeline) call it through pretrain()/sft() in pretrain.h / sft.h.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "rlhf/data/lm_batch.h"
#include "rlhf/model/transformer.h"
#include "rlhf/tokenizer/tokenizer.h"
#include "rlhf/train/loop.h"

namespace rlhf {

struct LmTrainJob {
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> tokenizer;
  TrainConfig train;
  std::string run_dir;
  std::string label = "train";
  bool resume = false;
  torch::Device device = torch::kCPU;
  int64_t n_train = 0;  // training examples (sequences)
  std::function<data::LmBatch(const std::vector<int64_t>& idx)> train_batch;
  int64_t n_val = 0;    // validation examples (0 = no validation loss)
  std::function<data::LmBatch(const std::vector<int64_t>& idx)> val_batch;
  // Extra files for every checkpoint folder (chat template, run config), after the model files.
  std::function<void(const std::string& dir)> write_extra;
  int progress_tty = -1;
};

// Runs (or resumes) the job; the finished checkpoint is RUN/final.
TrainResult train_lm(LmTrainJob& job);

}  // namespace rlhf
