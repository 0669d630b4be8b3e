// load_tokenizer: picks the format from the folder's files or the file's first bytes.
#include <fstream>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/tokenizer/formats.h"

namespace rlhf {
namespace {

std::string head_of(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open for reading");
  std::string s(n, '\0');
  in.read(&s[0], static_cast<std::streamsize>(n));
  s.resize(static_cast<size_t>(in.gcount()));
  return s;
}

std::shared_ptr<Tokenizer> load_folder(const std::string& dir) {
  std::string json = io::join_path(dir, "tokenizer.json"), model = io::join_path(dir, "tokenizer.model");
  if (io::file_exists(json)) {
    try {
      return load_tokenizer_json(json);
    } catch (const Error&) {
      // Llama-style checkpoints ship a SentencePiece-BPE tokenizer.json that we do not read; their
      // tokenizer.model is the same vocabulary.
      if (!io::file_exists(model)) throw;
    }
  }
  if (io::file_exists(model)) return load_sentencepiece_model(model);
  if (io::file_exists(io::join_path(dir, "encoder.json")) && io::file_exists(io::join_path(dir, "vocab.bpe")))
    return load_gpt2_files(dir);
  throw Error(dir + ": no tokenizer here (expected tokenizer.json, tokenizer.model, or encoder.json + vocab.bpe)");
}

}  // namespace

std::shared_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (io::dir_exists(path)) return load_folder(path);
  if (!io::file_exists(path)) throw Error(path + ": no such file or folder (expected a tokenizer)");
  std::string head = head_of(path, 64);
  if (head.compare(0, 4, "GGUF") == 0) return load_gguf_tokenizer(path);
  size_t p = head.find_first_not_of(" \t\r\n");
  if (p != std::string::npos && head[p] == '{') return load_tokenizer_json(path);
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return load_tokenizer_json(path);
  if (head.empty()) throw Error(path + ": empty file (expected a tokenizer)");
  return load_sentencepiece_model(path);
}

}  // namespace rlhf
