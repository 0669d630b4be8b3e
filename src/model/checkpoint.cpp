// Checkpoint folders: HF-layout save (via a temp folder + atomic rename) and load.
#include "rlhf/model/checkpoint.h"

#include <filesystem>
#include <set>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/tensor_io.h"

namespace fs = std::filesystem;

namespace rlhf {

namespace {

// Files the loader interprets itself rather than returning as `extra`.
const std::set<std::string> kOwnJson = {"config.json", "generation_config.json", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                                        "vocab.json", "encoder.json"};

nlohmann::json generation_config(const ModelConfig& c) {
  nlohmann::json g = {{"_from_model_config", true}};
  if (c.bos_id >= 0) g["bos_token_id"] = c.bos_id;
  if (c.eos_id >= 0) g["eos_token_id"] = c.eos_id;
  if (c.pad_id >= 0) g["pad_token_id"] = c.pad_id;
  return g;
}

}  // namespace

void write_checkpoint_files(const std::string& dir, const Transformer& model, const Tokenizer* tokenizer,
                            const ScalarHead* head, const std::map<std::string, nlohmann::json>& extra) {
  io::make_dirs(dir);
  const ModelConfig& cfg = model->config();
  auto dtype = model->parameters().front().scalar_type();
  auto hf = cfg.to_hf_json();
  hf["torch_dtype"] = dtype == torch::kBFloat16 ? "bfloat16" : dtype == torch::kHalf ? "float16" : "float32";
  io::write_json_atomic(io::join_path(dir, "config.json"), hf);
  io::write_json_atomic(io::join_path(dir, "generation_config.json"), generation_config(cfg));
  NamedTensors tensors = model->hf_state();
  if (head && !head->is_empty()) {
    tensors.emplace_back("score.weight", (*head)->proj->weight);
    tensors.emplace_back("score.bias", (*head)->proj->bias);
  }
  save_safetensors(io::join_path(dir, "model.safetensors"), tensors);
  if (tokenizer) tokenizer->save(dir);
  for (const auto& [name, j] : extra) {
    if (name.find('/') != std::string::npos || kOwnJson.count(name))
      throw Error("checkpoint " + dir + ": extra file name \"" + name + "\" is reserved or not a plain file name");
    io::write_json_atomic(io::join_path(dir, name), j);
  }
}

void save_checkpoint(const std::string& dir, const Transformer& model, const Tokenizer* tokenizer,
                     const ScalarHead* head, const std::map<std::string, nlohmann::json>& extra,
                     const std::function<void(const std::string&)>& write_more) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const std::string tmp = d + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);  // a leftover of an earlier crash
  write_checkpoint_files(tmp, model, tokenizer, head, extra);
  if (write_more) write_more(tmp);
  io::replace_dir_atomic(tmp, d);
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = io::join_path(dir, "config.json");
  if (!io::file_exists(path)) throw Error(dir + ": not a checkpoint folder (config.json missing)");
  return ModelConfig::from_hf_json(io::read_json(path), path);
}

Checkpoint load_checkpoint(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  Checkpoint ck;
  ck.config = load_model_config(dir);
  const std::string st = io::join_path(dir, "model.safetensors");
  if (!io::file_exists(st)) throw Error(dir + ": model.safetensors missing (only safetensors checkpoints are read)");
  NamedTensors tensors = load_safetensors(st);
  torch::Tensor score_w, score_b;
  NamedTensors trunk;
  for (auto& [name, t] : tensors) {
    if (name == "score.weight")
      score_w = t;
    else if (name == "score.bias")
      score_b = t;
    else
      trunk.emplace_back(name, t);
  }
  ck.model = Transformer(ck.config);
  ck.model->load_hf_state(trunk, st);
  ck.model->to(device, dtype);
  if (score_w.defined()) {
    const int64_t C = ck.config.d_model;
    if (score_w.sizes() != torch::IntArrayRef({1, C}))
      throw Error(st + ": tensor \"score.weight\" has shape " + c10::str(score_w.sizes()) + ", expected [1, " +
                  std::to_string(C) + "]");
    ck.head = ScalarHead(C);
    torch::NoGradGuard g;
    ck.head->proj->weight.copy_(score_w);
    if (score_b.defined()) {
      if (score_b.numel() != 1)
        throw Error(st + ": tensor \"score.bias\" has shape " + c10::str(score_b.sizes()) + ", expected [1]");
      ck.head->proj->bias.copy_(score_b.reshape({1}));
    } else {
      ck.head->proj->bias.zero_();
    }
    ck.head->to(device, dtype);
  }
  if (io::file_exists(io::join_path(dir, "tokenizer.json")) || io::file_exists(io::join_path(dir, "tokenizer.model")))
    ck.tokenizer = load_tokenizer(dir);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || e.path().extension() != ".json" || kOwnJson.count(name)) continue;
    ck.extra[name] = io::read_json(e.path().string());
  }
  return ck;
}

}  // namespace rlhf
