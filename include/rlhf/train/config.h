// TrainConfig: the settings of the shared training loop (optimizer, schedule, clipping,
// accumulation, precision, checkpoints, metrics) that every trainer (pretrain, SFT, reward, PPO,
// DPO, ...) reuses, plus the mapping from command-line flags / config-file keys onto it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace rlhf {

class Flags;

struct TrainConfig {
  int64_t steps = 1000;          // optimizer steps in the run (>= 1)
  int64_t batch_size = 8;        // sequences per micro-batch (>= 1)
  int64_t grad_accum = 1;        // micro-batches per optimizer step; effective batch = batch_size * grad_accum
  double lr = 3e-4;              // peak learning rate, reached after warmup
  int64_t warmup_steps = 100;    // linear warmup from lr/warmup to lr; 0 = start at the peak
  double min_lr_ratio = 0.1;     // cosine decay ends at lr * min_lr_ratio (0 = decay to zero)
  double weight_decay = 0.1;     // AdamW decoupled decay on matrices/embeddings; norms and biases get none
  double beta1 = 0.9;            // AdamW first-moment decay
  double beta2 = 0.95;           // AdamW second-moment decay (0.95 is steadier than 0.999 for small LMs)
  double adam_eps = 1e-8;        // AdamW denominator epsilon
  double grad_clip = 1.0;        // clip the global gradient norm to this; 0 = no clipping
  std::string dtype = "fp32";    // "fp32" or "bf16" (bf16 matrix products, fp32 master weights and moments)
  uint64_t seed = 0;             // seeds init, data order and sampling; the same seed reproduces the run on CPU
  int64_t save_every = 0;        // checkpoint every N steps (plus at the end); 0 = only at the end
  int64_t keep_checkpoints = 1;  // intermediate checkpoints kept (older ones deleted once a newer one is complete)
  int64_t eval_every = 0;        // validation loss every N steps (and at the end); 0 = only at the end
  int64_t eval_batches = 8;      // micro-batches of the validation set per evaluation (0 = the whole set)
  int64_t log_every = 10;        // plain progress line every N steps when stdout is not a terminal
  int threads = 0;               // intra-op threads; 0 = all cores

  // Throws rlhf::Error naming the key ("--lr") and the allowed range when a value is out of range.
  void validate() const;
  nlohmann::json to_json() const;
};

// Declares every TrainConfig key as a flag of `f`, with `defaults` as the defaults shown by --help.
void add_train_flags(Flags& f, const TrainConfig& defaults = {});
// Reads the flags declared by add_train_flags and validates the result.
TrainConfig train_config_from_flags(const Flags& f);

// The run-folder flags every training command shares besides TrainConfig's: --out, --device,
// --resume.
struct RunOptions {
  std::string out;             // run folder (required)
  std::string device = "cpu";  // cpu | cuda | cuda:N
  bool resume = false;         // continue from the newest checkpoint in `out`
};
void add_run_flags(Flags& f);
// Reads them, requires --out, creates the folder and saves the resolved flags (every key, from
// the command line, the config file or the defaults) as OUT/run_config.json.
RunOptions run_options_from_flags(const Flags& f);

}  // namespace rlhf
