// The run loop around Trainer::step: resume from the newest checkpoint, metrics.jsonl, the
// progress line, periodic validation loss and checkpoints, the final checkpoint (RUN/final), and
// a clear stop on NaN/Inf that keeps the last good checkpoint. Every trainer's command calls it.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "rlhf/train/trainer.h"

namespace rlhf {

struct TrainLoop {
  std::string run_dir;                 // RUN: checkpoints, metrics.jsonl
  std::string label = "train";         // progress-line prefix
  MicroLossFn micro_loss;              // required: see Trainer::step
  std::function<double()> eval_loss;   // optional: mean validation loss (called without grad)
  // required: writes the model's files (config.json, model.safetensors, tokenizer...) into a
  // checkpoint folder; the loop adds trainer_state.{json,pt}.
  std::function<void(const std::string& dir)> save_model;
  // required for resume: loads the model weights back from a checkpoint folder.
  std::function<void(const std::string& dir)> load_model;
  // Test seam: called inside each checkpoint write after the model files (simulated crash).
  std::function<void(const std::string& tmp_dir)> on_checkpoint_write;
  int progress_tty = -1;               // -1 = detect; 0/1 force plain/live progress (tests)
};

struct TrainResult {
  std::string final_dir;   // RUN/final
  int64_t steps = 0;       // steps completed (== cfg.steps)
  double first_loss = 0;   // loss of the first step this process ran (NaN when it ran none)
  double last_loss = 0;    // loss of the last step
  double eval_loss = 0;    // last validation loss (NaN without eval_loss)
  double tokens_per_s = 0; // training tokens per second of wall time in this process
  double wall_s = 0;       // wall time of this process
  bool resumed = false;    // continued from a checkpoint
  bool already_done = false;  // RUN/final existed: nothing ran
};

// With resume, continues from latest_checkpoint(run_dir) (or returns at once if RUN/final
// exists). Without it, a run folder that already holds checkpoints is an error (pass --resume
// or choose a new folder). Throws NonFiniteError (message names the step and the last good
// checkpoint) on NaN/Inf.
TrainResult run_training(Trainer& trainer, const TrainLoop& loop, bool resume);

}  // namespace rlhf
