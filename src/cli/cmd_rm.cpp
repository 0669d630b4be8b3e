// rlhf rm train | eval | score: reward models from the command line (thin layer over
// rlhf/reward/*.h and rlhf/eval/reward_eval.h).
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "rlhf/data/preference.h"
#include "rlhf/eval/reward_eval.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/runtime.h"
#include "rlhf/pipeline/stage_rm.h"
#include "rlhf/reward/combine.h"
#include "rlhf/reward/reward_model.h"
#include "rlhf/reward/trainer.h"
#include "rlhf/util/flags.h"

namespace {

using rlhf::Error;
using rlhf::Flags;

rlhf::data::PreferenceSet read_data(const std::vector<std::string>& files, bool strict, const std::string& flag) {
  if (files.empty()) throw Error("--" + flag + ": give at least one JSONL file");
  rlhf::data::PreferenceReadOptions o;
  o.strict = strict;
  auto set = rlhf::data::read_preferences(files, o);
  if (set.skipped.total()) std::cerr << "rm: " << flag << ": " << set.skipped.summary() << "\n";
  return set;
}

int run_train(int argc, char** argv) {
  Flags f("rm train",
          "Train a reward model (trunk from --model + scalar head) on preference pairs / rankings / HH-RLHF.");
  rlhf::reward::add_reward_train_flags(f);
  f.add_list("data", "training JSONL files: pairs, rankings, {prompt,chosen,rejected}, or HH-RLHF transcripts");
  f.add_list("eval-data", "held-out JSONL files evaluated at the end (OUT/eval.json)");
  f.add_list("reference", "records whose responses set the normalisation mean/std (default: the training data)");
  f.add_bool("strict", "a record with chosen == rejected or an empty response is an error, not a counted skip");
  if (!f.parse(argc, argv)) return 0;
  auto cfg = rlhf::reward::reward_train_config_from_flags(f);
  rlhf::init_runtime({cfg.train.threads, cfg.device});
  bool strict = f.flag("strict");
  auto train = read_data(f.list("data"), strict, "data");
  rlhf::data::PreferenceSet eval, ref;
  if (!f.list("eval-data").empty()) eval = read_data(f.list("eval-data"), strict, "eval-data");
  if (!f.list("reference").empty()) ref = read_data(f.list("reference"), strict, "reference");
  rlhf::io::make_dirs(cfg.out);
  rlhf::io::write_json_atomic(rlhf::io::join_path(cfg.out, "rm_train_config.json"), f.resolved());
  auto r = rlhf::reward::train_reward_model(cfg, train.groups, eval.groups, ref.groups);
  std::cout << "rm: trained on " << r.records << " records";
  if (r.tie_only_dropped) std::cout << " (" << r.tie_only_dropped << " tie-only records left out under --ties ignore)";
  if (r.truncated) std::cout << "; " << r.truncated << " sequences cut to --max-len";
  std::cout << "\n";
  for (size_t m = 0; m < r.last_loss.size(); ++m)
    std::cout << "  member " << m << ": loss " << r.first_loss[m] << " -> " << r.last_loss[m] << ", train accuracy "
              << r.train_accuracy[m] << ", reward mean " << r.stats[m].mean << " std " << r.stats[m].stdev << "\n";
  if (r.has_eval) std::cout << r.eval.table();
  std::cout << "rm: wrote " << r.out << "\n";
  return 0;
}

int run_eval(int argc, char** argv) {
  Flags f("rm eval",
          "Evaluate a reward model on held-out preferences: accuracy (95% CI), margin, ECE, gold correlation, "
          "length baselines.");
  f.add("model", "", "reward-model folder (single or ensemble)");
  f.add_list("data", "held-out JSONL files (any preference layout; gold scores when present)");
  f.add_bool("json", "print one JSON object instead of the table");
  f.add_bool("strict", "bad records are errors instead of counted skips");
  f.add("batch-size", "32", "sequences per forward pass");
  f.add("device", "cpu", "cpu or cuda[:N]");
  f.add("threads", "0", "intra-op threads; 0 = all cores");
  if (!f.parse(argc, argv)) return 0;
  if (f.str("model").empty()) throw Error("--model: required (a reward-model folder)");
  f.require_positive("batch-size");
  rlhf::init_runtime({static_cast<int>(f.integer("threads")), f.str("device")});
  auto set = read_data(f.list("data"), f.flag("strict"), "data");
  auto model = rlhf::reward::RewardModel::load(f.str("model"), f.str("device"));
  auto gs = rlhf::reward::score_groups(model, set.groups, f.integer("batch-size"));
  auto r = rlhf::eval::evaluate_rewards(set.groups, gs.mean,
                                        model.size() > 1 ? gs.stdev : std::vector<std::vector<double>>{});
  if (f.flag("json")) {
    auto j = r.to_json();
    j["skipped"] = set.skipped.total();
    std::cout << j.dump() << "\n";
  } else {
    std::cout << r.table();
    if (set.skipped.total()) std::cout << "  " << set.skipped.summary() << "\n";
  }
  return 0;
}

int run_score(int argc, char** argv) {
  Flags f("rm score",
          "Score {prompt, response} JSONL records, writing each record back with \"reward\" beside it "
          "(and \"reward_std\" for ensembles).");
  f.add_list("model", "reward-model folder(s); several are combined by --combine");
  f.add("data", "", "JSONL with \"prompt\" and \"response\" per line");
  f.add("out", "-", "output JSONL (- = stdout)");
  f.add_bool("normalized", "report normalised rewards ((r - mean) / std of the stored reference statistics)");
  f.add_choice("combine", "sum", {"sum", "gate"},
               "several models: weighted sum, or gate (the safety model's score when it is below --threshold, "
               "else the helpful model's; Llama 2)");
  f.add_list("weights", "sum: one weight per --model (default all 1)");
  f.add("threshold", "0.15", "gate: safety score below which the safety score is used");
  f.add("safety-index", "1", "gate: which --model is the safety model (0-based); the other first one is helpful");
  f.add("batch-size", "32", "sequences per forward pass");
  f.add("device", "cpu", "cpu or cuda[:N]");
  f.add("threads", "0", "intra-op threads; 0 = all cores");
  if (!f.parse(argc, argv)) return 0;
  auto dirs = f.list("model");
  if (dirs.empty()) throw Error("--model: required (a reward-model folder)");
  if (f.str("data").empty()) throw Error("--data: required (JSONL with prompt and response)");
  f.require_positive("batch-size");
  rlhf::init_runtime({static_cast<int>(f.integer("threads")), f.str("device")});
  std::vector<rlhf::io::json> records;
  std::vector<std::string> prompts, responses;
  rlhf::io::for_each_jsonl(f.str("data"), [&](const rlhf::io::json& r, const rlhf::io::Where& w) {
    prompts.push_back(rlhf::io::get_string(r, "prompt", w));
    responses.push_back(rlhf::io::get_string(r, "response", w));
    records.push_back(r);
  });
  bool norm = f.flag("normalized");
  std::vector<std::vector<double>> per_model;
  std::vector<rlhf::reward::Scores> all;
  for (const auto& d : dirs) {
    auto model = rlhf::reward::RewardModel::load(d, f.str("device"));
    all.push_back(model.score(prompts, responses, f.integer("batch-size")));
    per_model.push_back(norm ? all.back().normalized : all.back().mean);
  }
  std::vector<double> combined = per_model[0];
  if (dirs.size() > 1) {
    rlhf::reward::CombineSpec spec;
    spec.rule = f.str("combine");
    for (const auto& w : f.list("weights")) {
      try {
        spec.weights.push_back(std::stod(w));
      } catch (const std::exception&) {
        throw Error("--weights: \"" + w + "\" is not a number");
      }
    }
    spec.threshold = f.num("threshold");
    spec.safety_index = static_cast<int>(f.integer("safety-index"));
    spec.helpful_index = spec.safety_index == 0 ? 1 : 0;
    combined = rlhf::reward::combine_rewards(per_model, spec);
  }
  std::string out;
  for (size_t i = 0; i < records.size(); ++i) {
    auto r = records[i];
    r["reward"] = combined[i];
    if (dirs.size() == 1 && all[0].members.size() > 1) r["reward_std"] = norm ? all[0].normalized_std[i] : all[0].stdev[i];
    if (dirs.size() > 1) {
      std::vector<double> each;
      for (const auto& v : per_model) each.push_back(v[i]);
      r["rewards"] = each;
    }
    out += r.dump(-1, ' ', false, rlhf::io::json::error_handler_t::replace) + "\n";
  }
  if (f.str("out") == "-")
    std::cout << out;
  else
    rlhf::io::write_file_atomic(f.str("out"), out);
  if (f.str("out") != "-") std::cerr << "rm: scored " << records.size() << " records -> " << f.str("out") << "\n";
  return 0;
}

int run_world(int argc, char** argv) {
  Flags f("rm world",
          "The pipeline's reward-model stage on its own: K responses per world prompt, labelled by simulated "
          "annotators, RM trained from --model, evaluated against the gold judge on held-out (val) prompts.");
  rlhf::reward::add_reward_train_flags(f);
  f.add_choice("candidates", "model", {"model", "styles"},
               "model: sample the responses from --model (the SFT checkpoint); styles: the world's response writer "
               "in random styles (model-free; checks the RM apart from the SFT model's quality)");
  f.add("train-prompts", "512", "world train-split prompts labelled by the annotators");
  f.add("eval-prompts", "128", "held-out (val split) prompts judged by the gold judge");
  f.add("k", "4", "responses per training prompt");
  f.add("eval-k", "0", "responses per held-out prompt (0 = --k)");
  f.add("annotators", "8", "simulated annotators");
  f.add_bool("pairs", "label every pair separately (with strength) instead of one K-way ranking per prompt");
  f.add("temperature", "1.0", "sampling temperature for --candidates model");
  f.add("max-new-tokens", "48", "response length limit for --candidates model");
  if (!f.parse(argc, argv)) return 0;
  auto rm = rlhf::reward::reward_train_config_from_flags(f);
  rlhf::init_runtime({rm.train.threads, rm.device});
  rlhf::pipeline::RmStageConfig c;
  c.sft_dir = rm.model;
  c.out_dir = rm.out;
  c.rm = rm;
  c.train_prompts = f.integer("train-prompts");
  c.eval_prompts = f.integer("eval-prompts");
  c.k = static_cast<int>(f.integer("k"));
  c.eval_k = static_cast<int>(f.integer("eval-k"));
  c.annotators = static_cast<int>(f.integer("annotators"));
  c.rankings = !f.flag("pairs");
  c.temperature = f.num("temperature");
  c.max_new_tokens = f.integer("max-new-tokens");
  c.seed = rm.train.seed;
  auto s = rlhf::pipeline::run_rm_stage(
      c, f.str("candidates") == "styles" ? rlhf::pipeline::world_style_sampler() : rlhf::pipeline::CandidateSampler{});
  std::cout << s.dump(2) << "\n";
  return 0;
}

rlhf::cli::RegisterCommand reg_world("rm world", "the pipeline's RM stage alone: world samples, simulated labels, gold evaluation",
                                     run_world);
rlhf::cli::RegisterCommand reg_train("rm train", "train a reward model (pairs, rankings, HH-RLHF; ensembles)", run_train);
rlhf::cli::RegisterCommand reg_eval("rm eval", "evaluate a reward model: accuracy, ECE, gold correlation, length baselines",
                                    run_eval);
rlhf::cli::RegisterCommand reg_score("rm score", "score prompt/response JSONL with one or more reward models", run_score);

}  // namespace
