// SentencePiece tokenizer.model through libsentencepiece (encoding), reached through the shim
// library loaded with dlopen (see sentencepiece.h); decoding and specials come from the shared
// piece table.
#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <vector>

#include "rlhf/io/error.h"
#include "rlhf/io/files.h"
#include "rlhf/tokenizer/formats.h"
#include "rlhf/tokenizer/sentencepiece.h"
#include "tokenizer/spm_model_proto.h"

namespace rlhf {

void remove_stale_tokenizer_json(const std::string& dir) {
  // load_tokenizer prefers tokenizer.json: one left by an earlier save would shadow tokenizer.model.
  std::error_code ec;
  std::filesystem::remove(io::join_path(dir, "tokenizer.json"), ec);
}

namespace {

// The shim's C entry points (src/spm_shim/spm_shim.cpp).
struct ShimApi {
  void* (*load)(const char*, size_t, char*, size_t);
  void (*free)(void*);
  int (*piece_size)(const void*);
  const char* (*id_to_piece)(const void*, int, size_t*);
  float (*score)(const void*, int);
  int (*piece_type)(const void*, int);
  int (*special_id)(const void*, int);
  long (*encode)(const void*, const char*, size_t, int*, size_t, char*, size_t);
  std::string path;
};

std::string exe_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

const ShimApi& shim() {
  static std::string failure;
  static ShimApi* api = []() -> ShimApi* {
    std::vector<std::string> tried;
    if (const char* env = std::getenv("RLHF_SPM_SHIM"); env && *env) tried.push_back(env);
    if (std::string d = exe_dir(); !d.empty()) tried.push_back(d + "/librlhf_spm_shim.so");
#ifdef RLHF_SPM_SHIM_PATH
    tried.push_back(RLHF_SPM_SHIM_PATH);
#endif
    std::string errors;
    for (const auto& path : tried) {
      if (!std::filesystem::exists(path)) {
        errors += "\n  " + path + ": no such file";
        continue;
      }
      // RTLD_DEEPBIND: libsentencepiece resolves its (bundled protobuf) symbols in itself before
      // the process's global scope; RTLD_LOCAL: nothing loaded later binds to them.
      void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (!lib) {
        errors += "\n  " + path + ": " + dlerror();
        continue;
      }
      auto version = reinterpret_cast<int (*)()>(dlsym(lib, "rlhf_spm_abi_version"));
      auto* a = new ShimApi;
      a->load = reinterpret_cast<decltype(a->load)>(dlsym(lib, "rlhf_spm_load"));
      a->free = reinterpret_cast<decltype(a->free)>(dlsym(lib, "rlhf_spm_free"));
      a->piece_size = reinterpret_cast<decltype(a->piece_size)>(dlsym(lib, "rlhf_spm_piece_size"));
      a->id_to_piece = reinterpret_cast<decltype(a->id_to_piece)>(dlsym(lib, "rlhf_spm_id_to_piece"));
      a->score = reinterpret_cast<decltype(a->score)>(dlsym(lib, "rlhf_spm_score"));
      a->piece_type = reinterpret_cast<decltype(a->piece_type)>(dlsym(lib, "rlhf_spm_piece_type"));
      a->special_id = reinterpret_cast<decltype(a->special_id)>(dlsym(lib, "rlhf_spm_special_id"));
      a->encode = reinterpret_cast<decltype(a->encode)>(dlsym(lib, "rlhf_spm_encode"));
      if (!version || version() != 1 || !a->load || !a->free || !a->piece_size || !a->id_to_piece || !a->score ||
          !a->piece_type || !a->special_id || !a->encode) {
        errors += "\n  " + path + ": not an rlhf SentencePiece shim of interface version 1";
        delete a;
        dlclose(lib);
        continue;
      }
      a->path = path;
      return a;  // kept loaded for the life of the process
    }
    failure = "cannot load the libsentencepiece shim (librlhf_spm_shim.so; set RLHF_SPM_SHIM to its path):" + errors;
    return nullptr;
  }();
  if (!api) throw Error(failure);
  return *api;
}

}  // namespace

struct SentencePieceTokenizer::Handle {
  const ShimApi* api = nullptr;
  void* sp = nullptr;
  ~Handle() {
    if (sp) api->free(sp);
  }
};

std::string sentencepiece_shim_path() { return shim().path; }

PieceTable SentencePieceTokenizer::table_from(const Handle& h) {
  const ShimApi& a = *h.api;
  PieceTable t;
  int n = a.piece_size(h.sp);
  for (int id = 0; id < n; ++id) {
    size_t len = 0;
    const char* p = a.id_to_piece(h.sp, id, &len);
    t.pieces.emplace_back(p, len);
    t.scores.push_back(a.score(h.sp, id));
    t.types.push_back(static_cast<PieceType>(a.piece_type(h.sp, id)));
  }
  t.bos = a.special_id(h.sp, 0);
  t.eos = a.special_id(h.sp, 1);
  t.pad = a.special_id(h.sp, 2);
  t.unk = a.special_id(h.sp, 3);
  return t;
}

static std::shared_ptr<SentencePieceTokenizer::Handle> open_model(const std::string& model, const std::string& source);

SentencePieceTokenizer::SentencePieceTokenizer(std::string serialized_model, const std::string& source)
    : SentencePieceTokenizer(open_model(serialized_model, source), std::move(serialized_model)) {}

SentencePieceTokenizer::SentencePieceTokenizer(std::shared_ptr<Handle> handle, std::string&& serialized_model)
    : SpmTokenizerBase(table_from(*handle)), model_(std::move(serialized_model)), sp_(std::move(handle)) {
  // The model proto's normalizer spec is not exposed: a dummy prefix shows as a leading "▁".
  std::vector<int32_t> ids;
  encode_plain("x", ids);
  table_.add_dummy_prefix = !ids.empty() && id_to_token(ids[0]).rfind("\xe2\x96\x81", 0) == 0;
}

static std::shared_ptr<SentencePieceTokenizer::Handle> open_model(const std::string& model, const std::string& source) {
  const ShimApi& a = shim();
  char err[512] = {0};
  void* sp = a.load(model.data(), model.size(), err, sizeof err);
  if (!sp) throw Error(source + ": not a valid SentencePiece model (libsentencepiece: " + err + ")");
  auto h = std::make_shared<SentencePieceTokenizer::Handle>();
  h->api = &a;
  h->sp = sp;
  return h;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  static_assert(sizeof(int) == sizeof(int32_t), "ids cross the shim as int");
  const size_t base = out.size();
  size_t cap = text.size() + 16;
  char err[512] = {0};
  for (;;) {
    out.resize(base + cap);
    long n = sp_->api->encode(sp_->sp, text.data(), text.size(), reinterpret_cast<int*>(out.data() + base), cap, err,
                              sizeof err);
    if (n < 0) {
      out.resize(base);
      throw Error(std::string("SentencePiece encode failed: ") + err);
    }
    if (static_cast<size_t>(n) <= cap) {
      out.resize(base + n);
      return;
    }
    cap = static_cast<size_t>(n);
  }
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text, bool allow_special) const {
  return encode_with_specials(text, allow_special);
}

void SentencePieceTokenizer::save(const std::string& dir) const {
  io::make_dirs(dir);
  remove_stale_tokenizer_json(dir);
  io::write_file_atomic(io::join_path(dir, "tokenizer.model"), model_);
  write_tokenizer_config(dir, names(), true, "LlamaTokenizer");
}

std::shared_ptr<Tokenizer> load_sentencepiece_model(const std::string& path) {
  std::string bytes = io::read_file(path);
  tokenizer::SpmModelInfo info = tokenizer::parse_spm_model(bytes, path);
  // BPE models with identity normalisation (Llama's, llama2.c's) run on our own encoder, which
  // needs no protobuf runtime; the rest goes to libsentencepiece.
  if (info.model_type == 2 && !info.has_charsmap)
    return std::make_shared<SpmBpeTokenizer>(std::move(info.table), path, std::move(bytes));
  return std::make_shared<SentencePieceTokenizer>(std::move(bytes), path);
}

}  // namespace rlhf
