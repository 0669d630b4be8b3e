// Checkpoint folders in the Hugging Face layout: config.json, model.safetensors (HF tensor names;
// tied weights stored once), generation_config.json, the tokenizer files, an optional scalar head
// ("score.weight"/"score.bias" inside model.safetensors) and any extra JSON files (e.g. reward
// statistics). Saving goes through DIR.tmp + rename, so a crash leaves the last good folder.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "rlhf/model/config.h"
#include "rlhf/model/transformer.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf {

struct Checkpoint {
  ModelConfig config;
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> tokenizer;  // null when the folder holds no tokenizer files
  ScalarHead head{nullptr};              // null unless model.safetensors holds score.weight
  // Every other *.json file of the folder, by file name ("reward_stats.json" -> its content).
  // config.json, generation_config.json and the tokenizer's own files are not included.
  std::map<std::string, nlohmann::json> extra;
};

// Writes the checkpoint files into the existing folder `dir` (not atomic by itself; use it from
// inside a trainer's own temp folder). `tokenizer` and `head` may be null.
void write_checkpoint_files(const std::string& dir, const Transformer& model, const Tokenizer* tokenizer,
                            const ScalarHead* head = nullptr,
                            const std::map<std::string, nlohmann::json>& extra = {});

// Writes DIR.tmp with write_checkpoint_files, calls `write_more(DIR.tmp)` when given (trainer
// state, optimizer tensors), then atomically replaces DIR by it.
void save_checkpoint(const std::string& dir, const Transformer& model, const Tokenizer* tokenizer,
                     const ScalarHead* head = nullptr, const std::map<std::string, nlohmann::json>& extra = {},
                     const std::function<void(const std::string& tmp_dir)>& write_more = {});

// Loads a folder written by save_checkpoint or by Hugging Face transformers (GPT2LMHeadModel /
// LlamaForCausalLM; GPT-2 files with or without the "transformer." prefix and with or without a
// duplicate lm_head.weight). Parameters end up on `device` in `dtype`. Errors name the file and
// the tensor or field at fault.
Checkpoint load_checkpoint(const std::string& dir, torch::Device device = torch::kCPU,
                           torch::Dtype dtype = torch::kFloat);

// Reads only DIR/config.json.
ModelConfig load_model_config(const std::string& dir);

}  // namespace rlhf
