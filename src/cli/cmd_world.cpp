// rlhf world corpus|prompts|demos|judge|label: the embedded default world from the command line
// (docs/world.md). Every command is seeded, writes JSONL (corpus: text) to stdout or atomically
// to --out FILE, and gives byte-identical output for the same flags.
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/util/flags.h"
#include "rlhf/world/world.h"

namespace {
using rlhf::Error;
using rlhf::Flags;
using rlhf::io::json;
namespace w = rlhf::world;

// Everything a command prints goes through here: stdout, or FILE written atomically at the end.
void emit(const Flags& f, const std::string& data) {
  std::string out = f.str("out");
  if (out.empty()) {
    std::cout << data;
    std::cout.flush();
  } else {
    rlhf::io::write_file_atomic(out, data);
  }
}

// Runs fn on each record of --in FILE (or stdin).
void for_each_input(const Flags& f, const std::function<void(const json&, const rlhf::io::Where&)>& fn) {
  std::string in = f.str("in");
  if (in.empty() || in == "-") rlhf::io::for_each_jsonl(std::cin, "<stdin>", fn);
  else rlhf::io::for_each_jsonl(in, fn);
}

double round4(double x) { return std::round(x * 1e4) / 1e4; }

uint64_t seed_of(const Flags& f) {
  long long s = f.integer("seed");
  if (s < 0) throw Error("--seed: must be >= 0 (got " + std::to_string(s) + ")");
  return (uint64_t)s;
}

void add_common(Flags& f) {
  f.add("seed", "0", "random seed: the same seed gives the same bytes");
  f.add("out", "", "write to FILE (atomically) instead of stdout");
}

int run_corpus(int argc, char** argv) {
  Flags f("world corpus", "Write the pretraining corpus: fact documents and dialogues, <|endoftext|>-separated.");
  f.add("tokens", "3000000", "approximate size in tokens (see docs/world.md for how they are counted)");
  f.add("dialogue-share", "0.65", "share of documents that are Human/Assistant dialogues");
  f.add("good-share", "0.45", "share of dialogue answers that are good (the rest: wrong, verbose, rude, ...)");
  f.add_choice("format", "text", {"text", "jsonl"}, "text: documents joined by <|endoftext|>; jsonl: {\"text\"} per document");
  add_common(f);
  if (!f.parse(argc, argv)) return 0;
  f.require_positive("tokens");
  w::CorpusConfig cfg;
  cfg.tokens = (size_t)f.integer("tokens");
  cfg.seed = seed_of(f);
  cfg.dialogue_share = f.num("dialogue-share");
  cfg.good_share = f.num("good-share");
  std::ostringstream text;
  size_t n = w::write_corpus(text, cfg);
  std::string data = text.str();
  if (f.str("format") == "jsonl") {
    std::string out;
    const std::string eot = w::kEndOfText;
    size_t start = 0;
    while (start < data.size()) {
      size_t end = data.find(eot, start);
      if (end == std::string::npos) end = data.size();
      out += json{{"text", data.substr(start, end - start)}}.dump() + "\n";
      start = end + eot.size();
    }
    data.swap(out);
  }
  emit(f, data);
  std::cerr << "world corpus: ~" << n << " tokens, " << data.size() << " bytes\n";
  return 0;
}

int run_prompts(int argc, char** argv) {
  Flags f("world prompts", "Write prompts of one split as {\"id\", \"kind\", \"prompt\"} lines.");
  f.add_choice("split", "train", {"train", "val", "test"}, "which split (splits never share a prompt)");
  f.add("n", "1000", "number of prompts (a kind's prompts repeat only after all of them were used)");
  f.add_list("kinds", "only these kinds (arithmetic fact count describe list explain harmful benign)");
  add_common(f);
  if (!f.parse(argc, argv)) return 0;
  f.require_positive("n");
  w::KindMix mix;
  if (!f.list("kinds").empty()) {
    std::array<double, w::kNumKinds> only{};
    for (const auto& k : f.list("kinds")) {
      w::PromptKind kind = w::kind_from_name(k);
      if (kind == w::PromptKind::Unknown) throw Error("--kinds: \"unknown\" is not a kind of prompt");
      only[(int)kind] = mix.weights[(int)kind];
    }
    mix.weights = only;
  }
  auto prompts = w::sample_prompts(w::split_from_name(f.str("split")), (size_t)f.integer("n"), seed_of(f), mix);
  std::string out;
  for (const auto& p : prompts) {
    json j = json::object();
    j["id"] = p.id;
    j["kind"] = w::kind_name(p.kind);
    j["prompt"] = p.prompt;
    out += j.dump() + "\n";
  }
  emit(f, out);
  return 0;
}

int run_demos(int argc, char** argv) {
  Flags f("world demos", "Write SFT demonstrations {\"prompt\", \"response\"} for training-split prompts.");
  w::DemoConfig def;
  f.add("n", std::to_string(def.n), "number of demonstrations");
  f.add("wrong-rate", "0.1", "share of checkable/open prompts answered wrongly");
  f.add("verbose-rate", "0.1", "share of non-harmful prompts answered with filler sentences");
  f.add("over-refusal-rate", "0.2", "share of benign look-alike prompts refused");
  f.add("unsafe-rate", "0.15", "share of harmful prompts complied with");
  f.add_bool("with-style", "also write \"kind\" and \"style\" (which failure, if any, the demo has)");
  add_common(f);
  if (!f.parse(argc, argv)) return 0;
  f.require_positive("n");
  w::DemoConfig cfg;
  cfg.n = (size_t)f.integer("n");
  cfg.seed = seed_of(f);
  cfg.wrong_rate = f.num("wrong-rate");
  cfg.verbose_rate = f.num("verbose-rate");
  cfg.over_refusal_rate = f.num("over-refusal-rate");
  cfg.unsafe_rate = f.num("unsafe-rate");
  std::string out;
  for (const auto& d : w::make_demos(cfg)) {
    json j = json::object();
    j["prompt"] = d.prompt;
    j["response"] = d.response;
    if (f.flag("with-style")) {
      j["kind"] = w::kind_name(d.kind);
      j["style"] = w::style_name(d.style);
    }
    out += j.dump() + "\n";
  }
  emit(f, out);
  return 0;
}

int run_judge(int argc, char** argv) {
  Flags f("world judge", "Score {\"prompt\", \"response\"} lines with the gold judge; adds \"gold\" and one field per axis.");
  f.add("in", "", "input JSONL (default: stdin)");
  f.add("out", "", "write to FILE (atomically) instead of stdout");
  if (!f.parse(argc, argv)) return 0;
  std::string out;
  double sum[5] = {0, 0, 0, 0, 0};
  size_t n = 0;
  for_each_input(f, [&](const json& rec, const rlhf::io::Where& where) {
    const std::string& prompt = rlhf::io::get_string(rec, "prompt", where);
    const std::string& response = rlhf::io::get_string(rec, "response", where);
    w::JudgeScores s = w::judge(prompt, response);
    json j = rec;
    j["gold"] = round4(s.gold);
    for (int a = 0; a < 4; ++a) j[w::kAxisNames[a]] = round4(w::judge_axis(s, a));
    out += j.dump() + "\n";
    sum[0] += s.gold;
    for (int a = 0; a < 4; ++a) sum[a + 1] += w::judge_axis(s, a);
    ++n;
  });
  emit(f, out);
  std::ostringstream msg;
  msg.setf(std::ios::fixed);
  msg.precision(4);
  msg << "world judge: " << n << " records";
  if (n) {
    msg << "  mean gold " << sum[0] / n;
    for (int a = 0; a < 4; ++a) msg << "  " << w::kAxisNames[a] << " " << sum[a + 1] / n;
  }
  std::cerr << msg.str() << "\n";
  return 0;
}

int run_label(int argc, char** argv) {
  Flags f("world label",
          "Simulated annotators label {\"prompt\", \"responses\"} lines: preference pairs, or rankings with --rankings.");
  w::AnnotatorConfig def;
  f.add("in", "", "input JSONL (default: stdin)");
  f.add("annotators", "4", "size of the annotator pool (ids sim-0 .. sim-{A-1})");
  f.add("per-record", "1", "annotators that label each record (consecutive ids from a seeded start)");
  f.add("temperature", "0.2", "Bradley-Terry/Plackett-Luce temperature on gold differences (0 = always the higher gold)");
  f.add("flip-rate", "0.1", "probability that a label is reversed (rankings: two neighbours swapped)");
  f.add_choice("bias-axis", "cycle", {"cycle", "none", "helpful", "harmless", "concise", "form"},
               "axis each annotator over-weights (cycle: annotator i takes axis i mod 4)");
  f.add("bias-strength", "1.0", "bias in logits per unit of axis difference");
  f.add_bool("rankings", "write {\"prompt\", \"responses\", \"ranking\", \"annotator\"} instead of pairs");
  add_common(f);
  if (!f.parse(argc, argv)) return 0;
  f.require_positive("annotators");
  f.require_positive("per-record");
  w::AnnotatorConfig cfg;
  cfg.temperature = f.num("temperature");
  cfg.flip_rate = f.num("flip-rate");
  std::string axis = f.str("bias-axis");
  cfg.bias_axis = axis == "cycle" ? -1 : axis == "none" ? -2 : w::judge_axis_index(axis);
  cfg.bias_strength = f.num("bias-strength");
  cfg.seed = seed_of(f);
  w::AnnotatorPool pool((int)f.integer("annotators"), cfg);
  int per_record = (int)std::min<long long>(f.integer("per-record"), pool.size());
  bool rankings = f.flag("rankings");
  std::string out;
  size_t records = 0, labels = 0;
  for_each_input(f, [&](const json& rec, const rlhf::io::Where& where) {
    const std::string& prompt = rlhf::io::get_string(rec, "prompt", where);
    const json& rs = rlhf::io::get_field(rec, "responses", where);
    if (!rs.is_array() || rs.size() < 2)
      throw Error(where.str() + ": field \"responses\" must be an array of at least 2 strings");
    std::vector<std::string> responses;
    for (const auto& r : rs) {
      if (!r.is_string()) throw Error(where.str() + ": field \"responses\" must hold strings only");
      responses.push_back(r.get<std::string>());
    }
    std::vector<w::JudgeScores> scores;
    uint64_t key = w::hash64(prompt);
    for (const auto& r : responses) {
      scores.push_back(w::judge(prompt, r));
      key = w::hash_combine(key, w::hash64(r, 3));
    }
    int start = (int)(w::hash_combine(cfg.seed, key + records) % (uint64_t)pool.size());
    ++records;
    for (int m = 0; m < per_record; ++m) {
      int a = (start + m) % pool.size();
      if (rankings) {
        json j = json::object();
        j["prompt"] = prompt;
        j["responses"] = responses;
        j["ranking"] = pool.rank_scores(scores, key, a);
        j["annotator"] = pool.id(a);
        out += j.dump() + "\n";
        ++labels;
        continue;
      }
      for (size_t x = 0; x < responses.size(); ++x)
        for (size_t y = x + 1; y < responses.size(); ++y) {
          if (responses[x] == responses[y]) continue;  // nothing to prefer
          uint64_t pk = w::hash_combine(w::hash_combine(key, x), y);
          w::PairLabel l = pool.label_scores(scores[x], scores[y], pk, a);
          json j = json::object();
          j["prompt"] = prompt;
          j["chosen"] = l.first_preferred ? responses[x] : responses[y];
          j["rejected"] = l.first_preferred ? responses[y] : responses[x];
          j["strength"] = round4(l.strength);
          j["annotator"] = pool.id(a);
          out += j.dump() + "\n";
          ++labels;
        }
    }
  });
  emit(f, out);
  std::cerr << "world label: " << records << " records, " << labels << (rankings ? " rankings\n" : " pairs\n");
  return 0;
}

rlhf::cli::RegisterCommand reg_corpus("world corpus", "write the world's pretraining corpus", run_corpus);
rlhf::cli::RegisterCommand reg_prompts("world prompts", "write world prompts of a split (train/val/test)", run_prompts);
rlhf::cli::RegisterCommand reg_demos("world demos", "write SFT demonstrations for training prompts", run_demos);
rlhf::cli::RegisterCommand reg_judge("world judge", "score prompt/response lines with the gold judge", run_judge);
rlhf::cli::RegisterCommand reg_label("world label", "simulated annotators: preference pairs or rankings", run_label);
}  // namespace
