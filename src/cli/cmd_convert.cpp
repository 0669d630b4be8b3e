// rlhf convert: imports a llama2.c .bin or a GGUF file into a checkpoint folder (HF layout).
#include <iostream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/model/checkpoint.h"
#include "rlhf/model/import.h"
#include "rlhf/util/flags.h"

namespace {

int run(int argc, char** argv) {
  rlhf::Flags f("convert",
                "Converts a model file into a checkpoint folder (config.json, model.safetensors, tokenizer). "
                "The format is detected from the content: GGUF (llama architecture, f32/f16/bf16 tensors; its "
                "vocabulary is used) or llama2.c's .bin (pass its SentencePiece model with --tokenizer).");
  f.add_positional("src", "model file: .gguf or llama2.c .bin");
  f.add_positional("out", "checkpoint folder to write (replaced atomically if it exists)");
  f.add("tokenizer", "", "tokenizer for the folder (SentencePiece .model, tokenizer.json, ...); required for llama2.c "
                         "files, overrides a GGUF file's own vocabulary");
  if (!f.parse(argc, argv)) return 0;
  const std::string src = f.str("src"), out = f.str("out");
  const std::string fmt = rlhf::detect_model_format(src);
  rlhf::ImportedModel m;
  if (fmt == "gguf") {
    m = rlhf::import_gguf(src);
  } else if (fmt == "llama2c") {
    if (f.str("tokenizer").empty())
      throw rlhf::Error("--tokenizer: required for llama2.c files (their vocabulary is a separate SentencePiece "
                        ".model, e.g. tokenizer.model or tok512.model)");
    m = rlhf::import_llama2c(src);
  } else {
    throw rlhf::Error(src + ": unrecognised model format (expected a GGUF file or a llama2.c .bin)");
  }
  if (!f.str("tokenizer").empty()) m.tokenizer = rlhf::load_tokenizer(f.str("tokenizer"));
  if (m.tokenizer && m.tokenizer->vocab_size() > m.config.vocab_size)
    throw rlhf::Error("--tokenizer " + (f.str("tokenizer").empty() ? src : f.str("tokenizer")) + ": vocabulary of " +
                      std::to_string(m.tokenizer->vocab_size()) + " tokens exceeds the model's " +
                      std::to_string(m.config.vocab_size) + " embedding rows");
  rlhf::save_checkpoint(out, m.model, m.tokenizer.get());
  const auto& c = m.config;
  std::cout << "converted " << src << " (" << fmt << ") -> " << out << ": llama, " << c.n_layer << " layers, d_model "
            << c.d_model << ", " << c.n_head << " heads (" << c.kv_heads() << " kv), vocab " << c.vocab_size
            << (c.tie_embeddings ? ", tied embeddings" : "") << "\n";
  return 0;
}

rlhf::cli::RegisterCommand reg("convert", "import a GGUF or llama2.c model file into a checkpoint folder", run);

}  // namespace
