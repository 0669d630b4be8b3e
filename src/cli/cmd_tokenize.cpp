// rlhf tokenize: text <-> token ids as JSONL on stdin/stdout, with any supported tokenizer.
#include <iostream>

#include "cli/command.h"
#include "rlhf/io/error.h"
#include "rlhf/io/jsonl.h"
#include "rlhf/tokenizer/tokenizer.h"
#include "rlhf/util/flags.h"

namespace {

int run(int argc, char** argv) {
  rlhf::Flags f("tokenize",
                "Reads JSONL on stdin: each line a JSON string, printed back as a JSON array of token ids "
                "(with --decode: each line an array of ids, printed as a JSON string).");
  f.add("tokenizer", "",
        "tokenizer: checkpoint folder, tokenizer.json, folder with encoder.json + vocab.bpe, "
        "SentencePiece .model, or .gguf file");
  f.add_bool("decode", "decode arrays of ids into strings instead of encoding");
  f.add_bool("special", "encode: recognise special tokens written in the text (<|endoftext|>); "
                        "decode: keep special tokens in the text (default drops them)");
  f.add_bool("bos", "encode: put the BOS id first (when the vocabulary has one)");
  if (!f.parse(argc, argv)) return 0;
  if (f.str("tokenizer").empty()) throw rlhf::Error("--tokenizer: required (a tokenizer file or checkpoint folder)");
  auto tok = rlhf::load_tokenizer(f.str("tokenizer"));
  const bool decode = f.flag("decode"), special = f.flag("special"), bos = f.flag("bos");
  std::ios::sync_with_stdio(false);
  rlhf::io::for_each_jsonl(std::cin, "<stdin>", [&](const rlhf::io::json& j, const rlhf::io::Where& w) {
    if (decode) {
      if (!j.is_array()) throw rlhf::Error(w.str() + ": expected a JSON array of token ids");
      std::vector<int32_t> ids;
      for (const auto& v : j) {
        if (!v.is_number_integer()) throw rlhf::Error(w.str() + ": expected integer token ids, got " + v.dump());
        long long id = v.get<long long>();
        if (id < 0 || id >= tok->vocab_size())
          throw rlhf::Error(w.str() + ": token id " + std::to_string(id) + " is outside the vocabulary (size " +
                            std::to_string(tok->vocab_size()) + ")");
        ids.push_back(static_cast<int32_t>(id));
      }
      // JSON strings hold only valid UTF-8: invalid bytes print as U+FFFD.
      std::cout << rlhf::io::json(tok->decode(ids, !special)).dump(-1, ' ', false, rlhf::io::json::error_handler_t::replace)
                << "\n";
    } else {
      if (!j.is_string()) throw rlhf::Error(w.str() + ": expected a JSON string");
      std::vector<int32_t> ids;
      if (bos && tok->bos_id() >= 0) ids.push_back(tok->bos_id());
      std::vector<int32_t> enc = tok->encode(j.get_ref<const std::string&>(), special);
      ids.insert(ids.end(), enc.begin(), enc.end());
      std::cout << rlhf::io::json(ids).dump() << "\n";
    }
  });
  return 0;
}

rlhf::cli::RegisterCommand reg("tokenize", "encode/decode JSONL text with a tokenizer", run);

}  // namespace
