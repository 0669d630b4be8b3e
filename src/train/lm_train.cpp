// Causal-LM training glue: sampler, loss closure, validation, checkpoint files.
#include "rlhf/train/lm_train.h"

#include "rlhf/data/sampler.h"
#include "rlhf/io/error.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/train/lm_loss.h"

namespace rlhf {

TrainResult train_lm(LmTrainJob& job) {
  if (job.n_train <= 0) throw Error(job.label + ": no training examples");
  Trainer trainer(named_params(*job.model), job.train);
  data::EpochSampler sampler(job.n_train, job.train.seed);
  Transformer model = job.model;
  const torch::Device device = job.device;

  TrainLoop loop;
  loop.run_dir = job.run_dir;
  loop.label = job.label;
  loop.progress_tty = job.progress_tty;
  loop.micro_loss = [&](int64_t) {
    auto& st = trainer.state();
    auto idx = sampler.next_batch(job.train.batch_size, st.epoch, st.position);
    auto b = lm_batch_to(job.train_batch(idx), device);
    model->train();
    return lm_loss_sum(model->forward(b.input_ids, lm_forward_args(b)), b);
  };
  if (job.n_val > 0 && job.val_batch) {
    loop.eval_loss = [&]() {
      model->eval();
      int64_t bs = job.train.batch_size;
      int64_t n_batches = (job.n_val + bs - 1) / bs;
      if (job.train.eval_batches > 0) n_batches = std::min(n_batches, job.train.eval_batches);
      double loss = mean_loss(n_batches, [&](int64_t i) {
        std::vector<int64_t> idx;
        for (int64_t k = i * bs; k < std::min(job.n_val, (i + 1) * bs); ++k) idx.push_back(k);
        auto b = lm_batch_to(job.val_batch(idx), device);
        return lm_loss_sum(model->forward(b.input_ids, lm_forward_args(b)), b);
      });
      model->train();
      return loss;
    };
  }
  loop.save_model = [&](const std::string& dir) {
    write_checkpoint_files(dir, model, job.tokenizer.get());
    if (job.write_extra) job.write_extra(dir);
  };
  loop.load_model = [&](const std::string& dir) {
    Checkpoint ck = load_checkpoint(dir, device);
    torch::NoGradGuard ng;
    auto src = ck.model->named_parameters(true);
    for (auto& p : model->named_parameters(true)) {
      auto* s = src.find(p.key());
      if (!s) throw Error(dir + ": checkpoint lacks parameter " + p.key());
      p.value().copy_(*s);
    }
  };
  return run_training(trainer, loop, job.resume);
}

}  // namespace rlhf
