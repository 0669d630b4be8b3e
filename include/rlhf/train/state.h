// Trainer state for exact resume (step, data position, RNG, optimizer moments) and the
// checkpoint-folder protocol of a run: RUN/checkpoint-<step>/ folders written atomically (built
// in a temporary folder, then renamed into place), RUN/final/ for the finished run.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace rlhf {

struct TrainerState {
  int64_t step = 0;          // optimizer steps completed
  int64_t epoch = 0;         // data epoch the next example comes from
  int64_t position = 0;      // index of the next example in that epoch's order
  int64_t tokens_seen = 0;   // training tokens consumed (for tokens/s and metrics)
  double elapsed_s = 0.0;    // training wall time accumulated over every process of this run
  uint64_t seed = 0;         // the run's seed (data order is derived from seed and epoch)
  double last_loss = 0.0;    // loss of the last completed step
  nlohmann::json extra = nlohmann::json::object();  // trainer-specific figures (e.g. PPO's KL coefficient)

  nlohmann::json to_json() const;
  static TrainerState from_json(const nlohmann::json& j, const std::string& where);
};

// Writes DIR/trainer_state.json (the fields above) and DIR/trainer_state.pt (the optimizer's
// state via torch::save, plus the CPU generator state "rng_cpu").
void save_trainer_state(const std::string& dir, const TrainerState& st, torch::optim::Optimizer& opt);
// Reads them back into `opt` (built with the same parameter groups) and the CPU generator.
TrainerState load_trainer_state(const std::string& dir, torch::optim::Optimizer& opt);

// Atomic checkpoint commit: `fill(tmp)` writes every file into the fresh folder RUN/.tmp-checkpoint-<step>;
// only when it returns is the folder renamed to RUN/checkpoint-<step> (one rename, so a crash at
// any moment leaves either no new checkpoint or a complete one). Older checkpoint-* folders
// beyond the newest `keep` are then deleted. Returns the new folder. `fill` may throw: the
// temporary folder is removed and the previous checkpoints are untouched.
std::string commit_checkpoint(const std::string& run_dir, int64_t step,
                              const std::function<void(const std::string& dir)>& fill, int64_t keep = 1);
// Renames RUN/checkpoint-<step> to RUN/final (the completed run's checkpoint).
std::string finalize_checkpoint(const std::string& run_dir, const std::string& checkpoint_dir);
// The newest complete checkpoint of a run: RUN/final if it exists, else the checkpoint-<step>
// with the largest step; "" when there is none. Leftover .tmp-* folders are ignored.
std::string latest_checkpoint(const std::string& run_dir);
bool run_finished(const std::string& run_dir);  // RUN/final/trainer_state.json exists

}  // namespace rlhf
