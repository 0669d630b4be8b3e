// The run loop: resume, metrics, progress, evaluation, checkpoints, NaN stop.
#include "rlhf/train/loop.h"

#include <chrono>
#include <cmath>
#include <sstream>

#include "rlhf/io/files.h"
#include "rlhf/train/metrics.h"

namespace rlhf {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

TrainResult run_training(Trainer& trainer, const TrainLoop& loop, bool resume) {
  if (!loop.micro_loss || !loop.save_model) throw Error("run_training: micro_loss and save_model are required");
  const TrainConfig& cfg = trainer.config();
  TrainResult r;
  r.first_loss = r.eval_loss = NAN;
  io::make_dirs(loop.run_dir);
  std::string last_good = latest_checkpoint(loop.run_dir);
  if (!last_good.empty()) {
    if (!resume)
      throw Error(loop.run_dir + ": holds checkpoints of an earlier run (" + last_good +
                  "); pass --resume to continue it, or choose another output folder");
    if (!loop.load_model) throw Error("run_training: resuming needs load_model");
    loop.load_model(last_good);
    trainer.load_state(last_good);
    r.resumed = true;
    if (run_finished(loop.run_dir)) {
      r.already_done = true;
      r.final_dir = last_good;
      r.steps = trainer.state().step;
      r.last_loss = trainer.state().last_loss;
      return r;
    }
  }
  TrainerState& st = trainer.state();
  MetricsWriter metrics(io::join_path(loop.run_dir, "metrics.jsonl"), r.resumed ? st.step : -1);
  Progress progress(loop.label, cfg.steps, cfg.log_every, loop.progress_tty);
  if (r.resumed) progress.note(loop.label + ": resuming from " + last_good + " at step " + std::to_string(st.step));

  const double t_start = now_s();
  const double elapsed0 = st.elapsed_s;
  const int64_t step0 = st.step, tokens0 = st.tokens_seen;
  auto elapsed = [&] { return elapsed0 + (now_s() - t_start); };

  auto save = [&](int64_t step) {
    st.elapsed_s = elapsed();
    std::string dir = commit_checkpoint(
        loop.run_dir, step,
        [&](const std::string& tmp) {
          loop.save_model(tmp);
          if (loop.on_checkpoint_write) loop.on_checkpoint_write(tmp);
          trainer.save_state(tmp);
        },
        cfg.keep_checkpoints);
    last_good = dir;
    return dir;
  };
  auto evaluate = [&]() {
    torch::NoGradGuard ng;
    AutocastGuard cast(cfg.dtype == "bf16");
    return loop.eval_loss();
  };

  double smoothed_tps = 0;
  while (st.step < cfg.steps) {
    StepStats s;
    try {
      s = trainer.step(loop.micro_loss);
    } catch (const NonFiniteError& e) {
      progress.finish();
      throw NonFiniteError(loop.label + ": " + e.what() + ". The last good checkpoint is " +
                               (last_good.empty() ? std::string("(none: no checkpoint was written yet)") : last_good) +
                               "; lower --lr or raise --warmup-steps, then resume from it with --resume.",
                           e.step());
    }
    if (std::isnan(r.first_loss)) r.first_loss = s.loss;
    r.last_loss = s.loss;
    double tps = s.seconds > 0 ? s.tokens / s.seconds : 0;
    smoothed_tps = smoothed_tps == 0 ? tps : 0.9 * smoothed_tps + 0.1 * tps;
    nlohmann::json rec = {{"step", s.step},           {"loss", s.loss},       {"lr", s.lr},
                          {"grad_norm", s.grad_norm}, {"tokens", s.tokens},   {"tokens_per_s", tps},
                          {"elapsed_s", elapsed()},   {"epoch", st.epoch}};
    bool last = s.step == cfg.steps;
    if (loop.eval_loss && (last || (cfg.eval_every > 0 && s.step % cfg.eval_every == 0))) {
      r.eval_loss = evaluate();
      rec["eval_loss"] = r.eval_loss;
    }
    metrics.write(rec);
    double rate = (st.step - step0) / std::max(1e-9, now_s() - t_start);
    progress.update(s.step, s.loss, smoothed_tps, elapsed(), rate);
    if (rec.contains("eval_loss") && !progress.is_tty()) {
      std::ostringstream ss;
      ss << loop.label << " step " << s.step << "  eval_loss " << r.eval_loss;
      progress.note(ss.str());
    }
    if (!last && cfg.save_every > 0 && s.step % cfg.save_every == 0) save(s.step);
  }
  progress.finish();
  std::string dir = save(st.step);
  r.final_dir = finalize_checkpoint(loop.run_dir, dir);
  r.steps = st.step;
  r.wall_s = now_s() - t_start;
  r.tokens_per_s = (st.tokens_seen - tokens0) / std::max(1e-9, r.wall_s);
  return r;
}

}  // namespace rlhf
