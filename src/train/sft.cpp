// rlhf sft: checkpoint + JSONL demonstrations -> response-only LM loss -> RUN/final.
#include "rlhf/train/sft.h"

#include <chrono>
#include <cmath>
#include <iostream>

#include "rlhf/data/chat_template.h"
#include "rlhf/data/sampler.h"
#include "rlhf/data/sft_dataset.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/runtime.h"
#include "rlhf/train/lm_loss.h"
#include "rlhf/train/lm_train.h"

namespace rlhf {

namespace {
nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

// A micro-batch of the examples `idx`: padded rows, or packed rows of up to max_seq positions
// (the same examples and loss tokens either way).
data::LmBatch batch_of(const data::SftDataset& ds, const std::vector<int64_t>& idx, int64_t pad, bool packing,
                       int64_t max_seq) {
  std::vector<const data::TokenizedExample*> rows;
  for (int64_t i : idx) rows.push_back(&ds.examples[static_cast<size_t>(i)]);
  return packing ? data::collate_packed(rows, max_seq, pad) : data::collate_padded(rows, pad);
}
}  // namespace

nlohmann::json sft(const SftConfig& cfg) {
  if (cfg.model.empty()) throw Error("--model: the checkpoint folder to fine-tune is required");
  if (cfg.data.empty()) throw Error("--data: at least one SFT JSONL file is required");
  if (cfg.out.empty()) throw Error("--out: a run folder is required");
  if (!(cfg.val_fraction >= 0 && cfg.val_fraction < 0.5))
    throw Error("--val-fraction: must be in [0, 0.5) (got " + std::to_string(cfg.val_fraction) + ")");
  cfg.train.validate();
  auto t_start = std::chrono::steady_clock::now();
  init_runtime({cfg.train.threads, cfg.device});
  torch::Device device = parse_device(cfg.device);

  Checkpoint ck = load_checkpoint(cfg.model, device);
  if (!ck.tokenizer) throw Error(cfg.model + ": the checkpoint has no tokenizer files (tokenizer.json)");
  const auto tpl = data::ChatTemplate::load(cfg.model);
  int64_t max_seq = cfg.max_seq > 0 ? cfg.max_seq : ck.config.max_seq;
  if (max_seq > ck.config.max_seq)
    throw Error("--max-seq " + std::to_string(max_seq) + ": longer than the model's context (" +
                std::to_string(ck.config.max_seq) + ")");

  data::SkipReport read_skips;
  std::vector<data::SftRecord> train_recs, val_recs;
  for (const auto& path : cfg.data) {
    auto recs = data::read_sft_jsonl(path, tpl, &read_skips);
    train_recs.insert(train_recs.end(), recs.begin(), recs.end());
  }
  if (!cfg.val_data.empty()) {
    val_recs = data::read_sft_jsonl(cfg.val_data, tpl, &read_skips);
  } else if (cfg.val_fraction > 0 && train_recs.size() >= 2) {
    // A seeded hold-out: the same records every run (and every resume).
    auto order = data::EpochSampler(static_cast<int64_t>(train_recs.size()), cfg.train.seed ^ 0x5f7dULL).order(0);
    size_t n_val = std::max<size_t>(1, static_cast<size_t>(train_recs.size() * cfg.val_fraction));
    std::vector<data::SftRecord> keep;
    for (size_t i = 0; i < order.size(); ++i)
      (i < n_val ? val_recs : keep).push_back(train_recs[static_cast<size_t>(order[i])]);
    train_recs.swap(keep);
  }
  auto train_ds = data::tokenize_sft(train_recs, *ck.tokenizer, max_seq, cfg.data[0]);
  data::SftDataset val_ds;
  if (!val_recs.empty()) val_ds = data::tokenize_sft(val_recs, *ck.tokenizer, max_seq, cfg.val_data);
  data::SkipReport skips = read_skips;
  skips.merge(train_ds.skipped);
  skips.merge(val_ds.skipped);
  std::cout << "sft: " << train_ds.examples.size() << " training examples, " << val_ds.examples.size()
            << " validation";
  if (train_ds.truncated + val_ds.truncated) std::cout << ", " << train_ds.truncated + val_ds.truncated << " truncated to " << max_seq << " tokens";
  std::cout << "\n";
  if (skips.total()) std::cout << "sft: " << skips.summary() << "\n";

  const int64_t pad = ck.tokenizer->pad_id() >= 0 ? ck.tokenizer->pad_id() : ck.tokenizer->eos_id();
  LmTrainJob job;
  job.model = ck.model;
  job.tokenizer = ck.tokenizer;
  job.train = cfg.train;
  job.run_dir = cfg.out;
  job.label = "sft";
  job.resume = cfg.resume;
  job.device = device;
  job.progress_tty = cfg.progress_tty;
  job.n_train = static_cast<int64_t>(train_ds.examples.size());
  job.train_batch = [&](const std::vector<int64_t>& idx) {
    return batch_of(train_ds, idx, pad, cfg.packing, max_seq);
  };
  job.n_val = static_cast<int64_t>(val_ds.examples.size());
  job.val_batch = [&](const std::vector<int64_t>& idx) { return batch_of(val_ds, idx, pad, cfg.packing, max_seq); };
  job.write_extra = [&](const std::string& dir) { tpl.save(dir); };

  // Validation loss of the starting model, for the before/after comparison.
  double before = NAN;
  if (job.n_val > 0 && !(cfg.resume && io::dir_exists(io::join_path(cfg.out, "final")))) {
    torch::NoGradGuard ng;
    ck.model->eval();
    int64_t bs = cfg.train.batch_size;
    int64_t n_batches = (job.n_val + bs - 1) / bs;
    if (cfg.train.eval_batches > 0) n_batches = std::min(n_batches, cfg.train.eval_batches);
    before = mean_loss(n_batches, [&](int64_t i) {
      std::vector<int64_t> idx;
      for (int64_t k = i * bs; k < std::min(job.n_val, (i + 1) * bs); ++k) idx.push_back(k);
      auto b = lm_batch_to(job.val_batch(idx), device);
      return lm_loss_sum(ck.model->forward(b.input_ids, lm_forward_args(b)), b);
    });
  }
  TrainResult r = train_lm(job);
  std::string result_path = io::join_path(cfg.out, "result.json");
  if (r.already_done && io::file_exists(result_path)) return io::read_json(result_path);
  nlohmann::json out = {{"checkpoint", r.final_dir},
                        {"steps", r.steps},
                        {"first_loss", finite_or_null(r.first_loss)},
                        {"final_loss", finite_or_null(r.last_loss)},
                        {"eval_loss", finite_or_null(r.eval_loss)},
                        {"eval_loss_before", finite_or_null(before)},
                        {"examples", job.n_train},
                        {"val_examples", job.n_val},
                        {"skipped", skips.total()},
                        {"skip_summary", skips.summary()},
                        {"truncated", train_ds.truncated + val_ds.truncated},
                        {"tokens_per_s", r.tokens_per_s},
                        {"packing", cfg.packing},
                        {"resumed", r.resumed},
                        {"wall_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()}};
  io::write_json_atomic(result_path, out);
  return out;
}

}  // namespace rlhf
