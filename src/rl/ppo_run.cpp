// The PPO run loop: logs, samples, evaluation, checkpoints and exact resume.
#include "rlhf/rl/ppo_run.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/train/metrics.h"
#include "rlhf/train/state.h"

namespace rlhf::rl {

namespace {

// Copies `src`'s parameters into `dst` in place (same config), so the optimiser's references stay valid.
void copy_params(torch::nn::Module& dst, torch::nn::Module& src, const std::string& what) {
  torch::NoGradGuard ng;
  auto d = dst.named_parameters(true), s = src.named_parameters(true);
  if (d.size() != s.size()) throw Error(what + ": checkpoint has " + std::to_string(s.size()) + " tensors, model " + std::to_string(d.size()));
  for (auto& kv : d) {
    const torch::Tensor* p = s.find(kv.key());
    if (!p) throw Error(what + ": checkpoint lacks tensor " + kv.key());
    if (p->sizes() != kv.value().sizes()) throw Error(what + ": tensor " + kv.key() + " has the wrong shape");
    kv.value().copy_(*p);
  }
}

std::string fmt(double v, int prec = 3) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return buf;
}

std::string progress_line(const std::string& label, int64_t it, int64_t total, const nlohmann::json& r, double elapsed) {
  std::ostringstream ss;
  ss << label << " " << it << "/" << total << "  reward " << fmt(r.value("reward", 0.0)) << " (raw "
     << fmt(r.value("reward_raw", 0.0)) << ")  kl " << fmt(r.value("kl", 0.0)) << "  beta " << fmt(r.value("beta", 0.0), 4)
     << "  ent " << fmt(r.value("entropy", 0.0)) << "  clip " << fmt(r.value("clip_frac", 0.0)) << "  akl "
     << fmt(r.value("approx_kl", 0.0), 4);
  if (r.contains("value_loss")) ss << "  vloss " << fmt(r["value_loss"].get<double>()) << "  ev " << fmt(r.value("explained_var", 0.0), 2);
  ss << "  len " << fmt(r.value("response_len", 0.0), 1) << "  unfin " << fmt(r.value("unfinished_frac", 0.0), 2) << "  "
     << fmt(r.value("tokens_per_s", 0.0), 0) << " tok/s  gen/score/fwd/upd " << fmt(r.value("time_generate", 0.0), 2) << "/"
     << fmt(r.value("time_score", 0.0), 2) << "/" << fmt(r.value("time_forward", 0.0), 2) << "/"
     << fmt(r.value("time_update", 0.0), 2) << "s  " << Progress::format_duration(elapsed);
  return ss.str();
}

}  // namespace

void save_ppo_checkpoint(PpoTrainer& t, const PromptSource& prompts, const std::string& dir) {
  auto& m = t.models();
  nlohmann::json cfgj = t.config().to_json();
  write_checkpoint_files(dir, m.policy, t.tokenizer().get(), nullptr, {{"ppo_config.json", cfgj}});
  if (m.value_trunk) {
    std::string vdir = io::join_path(dir, "value");
    io::make_dirs(vdir);
    write_checkpoint_files(vdir, m.value_trunk, t.tokenizer().get(), &m.value_head);
  }
  TrainerState& st = t.trainer().state();
  st.extra = t.state_json();
  st.extra["prompt_epoch"] = prompts.epoch();
  st.extra["prompt_position"] = prompts.position();
  t.trainer().save_state(dir);
}

void load_ppo_checkpoint(PpoTrainer& t, PromptSource& prompts, const std::string& dir) {
  auto& m = t.models();
  Checkpoint pol = load_checkpoint(dir);
  copy_params(*m.policy, *pol.model, dir + " (policy)");
  if (m.value_trunk) {
    std::string vdir = io::join_path(dir, "value");
    Checkpoint val = load_checkpoint(vdir);
    copy_params(*m.value_trunk, *val.model, vdir + " (value trunk)");
    if (!val.head) throw Error(vdir + ": the value model has no score.weight/score.bias");
    copy_params(*m.value_head, *val.head, vdir + " (value head)");
  }
  t.trainer().load_state(dir);
  const auto& ex = t.trainer().state().extra;
  t.restore_state(ex);
  prompts.seek(ex.value("prompt_epoch", int64_t{0}), ex.value("prompt_position", int64_t{0}));
}

PpoRunResult run_ppo(PpoTrainer& t, PromptSource& prompts, const PpoRunOptions& o) {
  const PpoConfig& cfg = t.config();
  const std::string label = o.label.empty() ? cfg.algo : o.label;
  PpoRunResult res;
  io::make_dirs(o.run_dir);
  std::string last_good = latest_checkpoint(o.run_dir);
  if (!last_good.empty()) {
    if (!o.resume)
      throw Error(o.run_dir + ": holds checkpoints of an earlier run (" + last_good +
                  "); pass --resume to continue it, or choose another output folder");
    load_ppo_checkpoint(t, prompts, last_good);
    res.resumed = true;
    if (run_finished(o.run_dir)) {
      res.already_done = true;
      res.final_dir = last_good;
      res.iterations = t.iteration();
      return res;
    }
  }
  if (!o.config.is_null()) io::write_json_atomic(io::join_path(o.run_dir, "config.json"), o.config);
  // Metrics lines are keyed by iteration: drop those an interrupted process wrote after its last checkpoint.
  MetricsWriter metrics(io::join_path(o.run_dir, "metrics.jsonl"), res.resumed ? t.iteration() : -1);
  std::ofstream samples(io::join_path(o.run_dir, "samples.jsonl"), std::ios::app);
  std::ofstream evals(io::join_path(o.run_dir, "evals.jsonl"), std::ios::app);
  Progress progress(label, cfg.iterations, 1, o.progress_tty);
  if (res.resumed) progress.note(label + ": resuming from " + last_good + " at iteration " + std::to_string(t.iteration()));

  const auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count(); };
  auto save = [&](int64_t it) {
    return commit_checkpoint(o.run_dir, it, [&](const std::string& tmp) { save_ppo_checkpoint(t, prompts, tmp); },
                             o.keep_checkpoints);
  };
  while (t.iteration() < cfg.iterations) {
    std::vector<SampleRecord> smp;
    const int64_t it = t.iteration() + 1;
    const bool log_samples = cfg.sample_every > 0 && (it % cfg.sample_every == 0 || it == 1);
    nlohmann::json rec = t.iterate(prompts.next(cfg.batch_prompts), log_samples ? &smp : nullptr);
    // "step" keeps the shared metrics format (MetricsWriter drops lines by it on resume).
    rec["step"] = it;
    rec["elapsed_s"] = elapsed();
    const bool last = it == cfg.iterations;
    if (o.evaluate && (last || (cfg.eval_every > 0 && it % cfg.eval_every == 0))) {
      nlohmann::json ev = o.evaluate(t);
      for (auto& [k, v] : ev.items()) rec["eval_" + k] = v;
      res.last_eval = ev;
      // One line per evaluation (the curve of RM score, gold and KL over the run).
      nlohmann::json line = {{"iteration", it}};
      line.update(ev);
      evals << line.dump() << "\n";
      evals.flush();
    }
    metrics.write(rec);
    for (const auto& s : smp)
      samples << nlohmann::json{{"iteration", it},   {"prompt", s.prompt}, {"response", s.response}, {"score", s.score},
                                {"raw_score", s.raw_score}, {"kl", s.kl}, {"finished", s.finished}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)  // bytes cut mid-character
              << "\n";
    samples.flush();
    progress.note(progress_line(label, it, cfg.iterations, rec, elapsed()));
    res.last = rec;
    if (!last && o.save_every > 0 && it % o.save_every == 0) last_good = save(it);
  }
  progress.finish();
  std::string dir = save(t.iteration());
  res.final_dir = finalize_checkpoint(o.run_dir, dir);
  res.iterations = t.iteration();
  return res;
}

}  // namespace rlhf::rl
