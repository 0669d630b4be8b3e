// rlhf ppo: policy optimisation from the command line (PPO, RLOO, GRPO, REINFORCE); a thin
// layer over rlhf/rl/ppo_setup.h and ppo_run.h.
#include <iostream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/runtime.h"
#include "rlhf/rl/ppo_eval.h"
#include "rlhf/rl/ppo_run.h"
#include "rlhf/rl/ppo_setup.h"
#include "rlhf/util/flags.h"

namespace {

int run(int argc, char** argv) {
  rlhf::Flags f("ppo",
                "Optimise a policy against reward models / rules / the gold judge with PPO (value model + GAE) or "
                "the critic-free RLOO, GRPO, REINFORCE, with a KL penalty to the frozen SFT reference.");
  rlhf::rl::add_ppo_flags(f);
  if (!f.parse(argc, argv)) return 0;
  auto cfg = rlhf::rl::ppo_config_from_flags(f);
  auto opt = rlhf::rl::ppo_train_config_from_flags(f);
  auto src = rlhf::rl::ppo_sources_from_flags(f);
  const std::string out = f.str("out");
  if (out.empty()) throw rlhf::Error("--out: required (the run folder)");
  if (f.str("prompts").empty()) throw rlhf::Error("--prompts: required (JSONL with \"prompt\", or world:train)");
  rlhf::init_runtime({opt.threads, "cpu"});

  auto setup = rlhf::rl::build_ppo(cfg, opt, src);
  auto& t = *setup.trainer;
  auto prompts = rlhf::rl::PromptSource::load(f.str("prompts"), cfg.seed);
  std::cout << "ppo: " << cfg.algo << ", " << prompts.size() << " prompts, " << cfg.iterations << " iterations x "
            << cfg.batch_prompts << " prompts x " << cfg.samples_per_prompt << " samples; reward "
            << "(" << (src.rewards.empty() ? 0 : src.rewards.size()) << " reward model(s)"
            << (src.rules.empty() ? "" : ", rules") << (src.gold_reward ? ", gold judge" : "") << ")";
  if (!src.reference.empty()) std::cout << "; reference " << src.reference;
  if (!setup.value_from.empty()) std::cout << "; value model from " << setup.value_from;
  std::cout << "\n";

  rlhf::rl::PpoRunOptions ro;
  ro.run_dir = out;
  ro.resume = f.flag("resume");
  ro.save_every = opt.save_every;
  ro.keep_checkpoints = opt.keep_checkpoints;
  ro.config = f.resolved();
  std::vector<std::string> eval_prompts;
  if (!f.flag("no-eval")) {
    eval_prompts = rlhf::rl::PromptSource::sample(f.str("eval-prompts-from"), cfg.eval_prompts, 12345);
    ro.evaluate = [&](rlhf::rl::PpoTrainer& tr) {
      return rlhf::rl::evaluate_summary(tr, eval_prompts, setup.rm.get(), cfg.seed + 1000003);
    };
  }
  auto res = rlhf::rl::run_ppo(t, prompts, ro);
  if (res.already_done) {
    std::cout << "ppo: " << out << " is already finished (" << res.final_dir << ")\n";
    return 0;
  }
  if (!res.last_eval.is_null()) {
    rlhf::io::write_json_atomic(rlhf::io::join_path(out, "eval.json"), res.last_eval);
    const auto& e = res.last_eval;
    std::cout << "ppo: held-out (" << e["n"] << " prompts x " << e["samples_per_prompt"] << " samples, temperature "
              << e["temperature"] << "): gold " << e["gold_mean"] << " (SFT " << e["sft_gold_mean"] << "), delta "
              << e["gold_delta_vs_sft"] << " 95% CI " << e["gold_delta_ci95"] << ", win rate vs SFT "
              << e["win_rate_vs_sft"] << ", KL " << e["kl"] << ", RM mean " << e["rm_mean"] << "\n";
    const auto& g = e["greedy"];
    std::cout << "ppo: held-out, greedy: gold " << g["gold_mean"] << " (SFT " << g["sft_gold_mean"] << "), delta "
              << g["gold_delta_vs_sft"] << " 95% CI " << g["gold_delta_ci95"] << ", win rate vs SFT "
              << g["win_rate_vs_sft"] << "\n";
  }
  std::cout << "ppo: wrote " << res.final_dir << "\n";
  return 0;
}

rlhf::cli::RegisterCommand reg("ppo", "policy optimisation: PPO / RLOO / GRPO / REINFORCE against rewards, KL to SFT", run);

}  // namespace
