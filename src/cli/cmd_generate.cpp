// rlhf generate: sample completions from a checkpoint, for one --prompt (the completion alone to
// stdout) or a JSONL file of {"prompt": ...} records (JSONL with "response" and "finished" out).
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "rlhf/generation/generate.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/runtime.h"
#include "rlhf/tokenizer/tokenizer.h"
#include "rlhf/util/flags.h"

namespace {

using rlhf::io::json;

struct Job {
  json record;  // the input record ({"prompt": ...}), echoed with the response
  std::vector<int64_t> ids;
};

int run(int argc, char** argv) {
  rlhf::Flags f("generate",
                "Samples completions from a checkpoint. With --prompt, prints the completion alone to stdout; with "
                "--prompts FILE.jsonl ({\"prompt\": ...} per line), writes each record back with \"response\" and "
                "\"finished\" (true = ended with EOS/stop token) to stdout or --out. Logs go to stderr.");
  f.add("model", "", "checkpoint folder (config.json, model.safetensors, tokenizer)")
      .add("prompt", "", "one prompt text")
      .add("prompts", "", "JSONL file of {\"prompt\": ...} records")
      .add("out", "", "--prompts: write the JSONL here (atomically) instead of stdout")
      .add("temperature", "1.0", "sampling temperature; 0 = greedy")
      .add("top-k", "0", "keep the k most likely tokens; 0 = off")
      .add("top-p", "1.0", "nucleus sampling: smallest set of tokens with probability >= p; 1 = off")
      .add("max-new-tokens", "128", "most tokens generated per prompt")
      .add("seed", "0", "random seed; the same seed gives the same completions")
      .add("batch-size", "16", "--prompts: prompts generated together in one batch")
      .add("device", "cpu", "cpu, cuda, cuda:N")
      .add_choice("dtype", "fp32", {"fp32", "bf16"}, "weight dtype for generation")
      .add_choice("backend", "auto", {"auto", "fast", "torch"},
                  "auto = the hand-written CPU decode path when it supports the model, else libtorch")
      .add("threads", "0", "CPU threads; 0 = all cores")
      .add_list("stop", "extra stop strings, each a single token of the vocabulary (EOS always stops)")
      .add_bool("special", "recognise special tokens written in the prompt text (<|endoftext|>)");
  if (!f.parse(argc, argv)) return 0;
  if (f.str("model").empty()) throw rlhf::Error("--model: required (a checkpoint folder)");
  if (f.str("prompt").empty() == f.str("prompts").empty())
    throw rlhf::Error("give exactly one of --prompt TEXT or --prompts FILE.jsonl");
  f.require_range("temperature", 0, 1e9);
  f.require_range("top-p", 1e-12, 1);
  f.require_positive("max-new-tokens");
  f.require_positive("batch-size");

  rlhf::init_runtime({static_cast<int>(f.integer("threads")), f.str("device")});
  auto device = rlhf::parse_device(f.str("device"));
  auto ckpt = rlhf::load_checkpoint(f.str("model"), device, f.str("dtype") == "bf16" ? torch::kBFloat16 : torch::kFloat);
  rlhf::Transformer model = ckpt.model;
  std::shared_ptr<rlhf::Tokenizer> tok = ckpt.tokenizer;
  if (!tok) throw rlhf::Error("--model " + f.str("model") + ": the checkpoint has no tokenizer files (tokenizer.json)");
  model->eval();

  rlhf::SamplingConfig sc;
  sc.temperature = f.num("temperature");
  sc.top_k = f.integer("top-k");
  sc.top_p = f.num("top-p");
  sc.max_new_tokens = f.integer("max-new-tokens");
  sc.seed = static_cast<uint64_t>(f.integer("seed"));
  std::vector<int64_t> stops;
  int64_t eos = tok->eos_id() >= 0 ? tok->eos_id() : model->config().eos_id;
  if (eos >= 0) stops.push_back(eos);
  for (const auto& s : f.list("stop")) {
    auto id = tok->token_to_id(s);
    if (!id) throw rlhf::Error("--stop \"" + s + "\": not a single token of this vocabulary");
    stops.push_back(*id);
  }
  sc.stop_ids = stops;
  sc.validate();
  rlhf::GenerateOptions go;
  go.backend = f.str("backend");
  go.threads = static_cast<int>(f.integer("threads"));

  const bool special = f.flag("special");
  auto encode = [&](const std::string& text) {
    std::vector<int64_t> ids;
    if (tok->add_bos_by_default() && tok->bos_id() >= 0) ids.push_back(tok->bos_id());
    for (int32_t t : tok->encode(text, special)) ids.push_back(t);
    return ids;
  };
  // The response text: the new tokens without the final stop token.
  auto decode = [&](const rlhf::GeneratedRow& r) {
    std::vector<int32_t> ids(r.tokens.begin(), r.tokens.end() - (r.finished ? 1 : 0));
    return tok->decode(ids, true);
  };

  std::vector<Job> jobs;
  if (!f.str("prompt").empty()) {
    jobs.push_back({json{{"prompt", f.str("prompt")}}, encode(f.str("prompt"))});
  } else {
    rlhf::io::for_each_jsonl(f.str("prompts"), [&](const json& j, const rlhf::io::Where& w) {
      jobs.push_back({j, encode(rlhf::io::get_string(j, "prompt", w))});
    });
  }
  const int64_t bs = f.integer("batch-size");
  std::ostringstream jsonl;
  int64_t new_tokens = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t start = 0; start < jobs.size(); start += bs) {
    const size_t end = std::min(jobs.size(), start + static_cast<size_t>(bs));
    std::vector<std::vector<int64_t>> prompts;
    for (size_t i = start; i < end; ++i) prompts.push_back(jobs[i].ids);
    rlhf::SamplingConfig bc = sc;
    bc.seed = sc.seed + 0x9E3779B97F4A7C15ull * (start / bs);  // distinct streams per batch
    auto rows = rlhf::generate(model, prompts, bc, go);
    for (size_t i = start; i < end; ++i) {
      const auto& r = rows[i - start];
      new_tokens += static_cast<int64_t>(r.tokens.size());
      if (!f.str("prompt").empty()) {
        std::cout << decode(r) << std::endl;
      } else {
        json out = jobs[i].record;
        out["response"] = decode(r);
        out["finished"] = r.finished;
        jsonl << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      }
    }
    std::cerr << "generate: " << end << "/" << jobs.size() << " prompts\n";
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!f.str("prompts").empty()) {
    if (f.str("out").empty())
      std::cout << jsonl.str() << std::flush;
    else
      rlhf::io::write_file_atomic(f.str("out"), jsonl.str());
  }
  std::cerr << "generate: " << new_tokens << " tokens in " << sec << " s (" << (sec > 0 ? new_tokens / sec : 0)
            << " tokens/s)\n";
  return 0;
}

rlhf::cli::RegisterCommand reg("generate", "sample completions from a checkpoint (--prompt or --prompts JSONL)", run);

}  // namespace
