// rlhf pretrain: corpus -> (BPE) -> packed sequences -> fresh Transformer -> RUN/final.
#include "rlhf/train/pretrain.h"

#include <chrono>
#include <cmath>
#include <iostream>

#include "rlhf/data/chat_template.h"
#include "rlhf/data/text_corpus.h"
#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/model/runtime.h"
#include "rlhf/tokenizer/bpe_train.h"
#include "rlhf/train/lm_train.h"

namespace rlhf {

namespace {
constexpr const char* kEot = "<|endoftext|>";

double num_or_null(double x) { return x; }
nlohmann::json finite_or_null(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

std::shared_ptr<Tokenizer> get_tokenizer(const PretrainConfig& cfg, const std::string& tok_dir) {
  if (!cfg.tokenizer.empty()) return load_tokenizer(cfg.tokenizer);
  if (io::file_exists(io::join_path(tok_dir, "tokenizer.json"))) return load_tokenizer(tok_dir);
  auto t0 = std::chrono::steady_clock::now();
  auto docs = data::read_text_documents(cfg.data, kEot);
  BpeTrainConfig bc;
  bc.vocab_size = cfg.vocab_size;
  auto tok = train_bpe(docs, bc);
  // Written to a temp folder then renamed, so a resumed run never sees half a tokenizer.
  std::string tmp = tok_dir + ".tmp";
  io::make_dirs(tmp);
  tok->save(tmp);
  io::replace_dir_atomic(tmp, tok_dir);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "pretrain: trained a " << tok->vocab_size() << "-token BPE on " << docs.size() << " documents in "
            << static_cast<int>(s * 10) / 10.0 << " s -> " << tok_dir << "\n";
  return tok;
}
}  // namespace

nlohmann::json pretrain(const PretrainConfig& cfg) {
  if (cfg.data.empty()) throw Error("--data: a corpus file or folder is required");
  if (cfg.out.empty()) throw Error("--out: a run folder is required");
  if (!(cfg.val_fraction >= 0 && cfg.val_fraction < 0.5))
    throw Error("--val-fraction: must be in [0, 0.5) (got " + std::to_string(cfg.val_fraction) + ")");
  if (cfg.vocab_size < 300 || cfg.vocab_size > 200000)
    throw Error("--vocab-size: must be in [300, 200000] (got " + std::to_string(cfg.vocab_size) + ")");
  cfg.train.validate();
  auto t_start = std::chrono::steady_clock::now();
  init_runtime({cfg.train.threads, cfg.device});
  torch::Device device = parse_device(cfg.device);
  io::make_dirs(cfg.out);

  auto tok = get_tokenizer(cfg, io::join_path(cfg.out, "tokenizer"));
  std::string sep = tok->eos_id() >= 0 ? tok->id_to_token(tok->eos_id()) : kEot;
  int64_t empty_docs = 0;
  auto docs = data::read_text_documents(cfg.data, sep, &empty_docs);
  auto stream = data::pack_documents(docs, *tok, cfg.train.threads);
  std::cout << "pretrain: " << docs.size() << " documents, " << stream.numel() << " tokens";
  if (empty_docs) std::cout << " (" << empty_docs << " empty documents skipped)";
  std::cout << "\n";

  ModelConfig mc = cfg.model;
  mc.vocab_size = tok->vocab_size();
  mc.eos_id = tok->eos_id();
  mc.bos_id = tok->bos_id();
  mc.pad_id = tok->pad_id();
  mc.validate();
  auto [train_seqs, val_seqs] = data::PackedSequences::split(stream, mc.max_seq, cfg.val_fraction);

  torch::manual_seed(cfg.train.seed);
  Transformer model(mc);
  model->to(device);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();

  LmTrainJob job;
  job.model = model;
  job.tokenizer = tok;
  job.train = cfg.train;
  job.run_dir = cfg.out;
  job.label = "pretrain";
  job.resume = cfg.resume;
  job.device = device;
  job.progress_tty = cfg.progress_tty;
  job.n_train = train_seqs.size();
  job.train_batch = [&](const std::vector<int64_t>& idx) { return train_seqs.batch(idx); };
  job.n_val = val_seqs.size();
  job.val_batch = [&](const std::vector<int64_t>& idx) { return val_seqs.batch(idx); };
  // The base model carries the default chat template, so SFT on {"messages"} works from it.
  job.write_extra = [](const std::string& dir) { data::ChatTemplate{}.save(dir); };
  std::cout << "pretrain: " << params << " parameters (" << mc.arch << ", " << mc.n_layer << " layers, d_model "
            << mc.d_model << ", context " << mc.max_seq << "), " << train_seqs.size() << " training sequences, "
            << val_seqs.size() << " validation\n";
  TrainResult r = train_lm(job);

  nlohmann::json out = {{"checkpoint", r.final_dir},
                        {"steps", r.steps},
                        {"first_loss", finite_or_null(r.first_loss)},
                        {"final_loss", finite_or_null(r.last_loss)},
                        {"eval_loss", finite_or_null(r.eval_loss)},
                        {"tokens_per_s", num_or_null(r.tokens_per_s)},
                        {"corpus_tokens", stream.numel()},
                        {"train_sequences", train_seqs.size()},
                        {"params", params},
                        {"vocab_size", mc.vocab_size},
                        {"resumed", r.resumed},
                        {"wall_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()}};
  if (r.already_done && io::file_exists(io::join_path(cfg.out, "result.json")))
    return io::read_json(io::join_path(cfg.out, "result.json"));
  io::write_json_atomic(io::join_path(cfg.out, "result.json"), out);
  return out;
}

}  // namespace rlhf
