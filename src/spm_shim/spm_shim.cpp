// A C interface to Debian's libsentencepiece, built as its own shared object and loaded at run time
// with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) (src/tokenizer/sentencepiece_tokenizer.cpp).
// libsentencepiece carries its own copy of protobuf-lite and exports its symbols; linked into a
// process that also has libtorch's libprotobuf, one copy interposes the other and either libtorch
// crashes at start-up or libsentencepiece fails protobuf's version check on every model. Loaded
// this way, libsentencepiece binds to its own protobuf first and nothing else in the process sees
// its symbols. Only C types cross this boundary; memory is never freed on the other side.
#include <sentencepiece_processor.h>

#include <cstddef>
#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#define RLHF_SPM_EXPORT extern "C" __attribute__((visibility("default")))

namespace {
void set_error(char* err, size_t cap, const std::string& msg) {
  if (!err || cap == 0) return;
  size_t n = std::min(cap - 1, msg.size());
  std::memcpy(err, msg.data(), n);
  err[n] = '\0';
}
}  // namespace

// Version of this interface; the loader refuses a shim with another one.
RLHF_SPM_EXPORT int rlhf_spm_abi_version() { return 1; }

// Parses a serialized ModelProto; null (and a message in err) when it is not a valid model.
RLHF_SPM_EXPORT void* rlhf_spm_load(const char* data, size_t len, char* err, size_t err_cap) {
  try {
    auto* sp = new sentencepiece::SentencePieceProcessor();
    auto status = sp->LoadFromSerializedProto(absl::string_view(data, len));
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      delete sp;
      return nullptr;
    }
    return sp;
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
  } catch (...) {
    set_error(err, err_cap, "unknown exception in libsentencepiece");
  }
  return nullptr;
}

RLHF_SPM_EXPORT void rlhf_spm_free(void* h) { delete static_cast<sentencepiece::SentencePieceProcessor*>(h); }

RLHF_SPM_EXPORT int rlhf_spm_piece_size(const void* h) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(h)->GetPieceSize();
}

// The piece text of `id`; the pointer stays valid while the model is loaded.
RLHF_SPM_EXPORT const char* rlhf_spm_id_to_piece(const void* h, int id, size_t* len) {
  const std::string& s = static_cast<const sentencepiece::SentencePieceProcessor*>(h)->IdToPiece(id);
  *len = s.size();
  return s.data();
}

RLHF_SPM_EXPORT float rlhf_spm_score(const void* h, int id) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(h)->GetScore(id);
}

// SentencePiece's piece type numbers: 1 normal, 2 unknown, 3 control, 5 unused, 6 byte.
RLHF_SPM_EXPORT int rlhf_spm_piece_type(const void* h, int id) {
  const auto* sp = static_cast<const sentencepiece::SentencePieceProcessor*>(h);
  if (sp->IsControl(id)) return 3;
  if (sp->IsUnknown(id)) return 2;
  if (sp->IsUnused(id)) return 5;
  if (sp->IsByte(id)) return 6;
  return 1;
}

// which: 0 bos, 1 eos, 2 pad, 3 unk (-1 when the model has none).
RLHF_SPM_EXPORT int rlhf_spm_special_id(const void* h, int which) {
  const auto* sp = static_cast<const sentencepiece::SentencePieceProcessor*>(h);
  switch (which) {
    case 0: return sp->bos_id();
    case 1: return sp->eos_id();
    case 2: return sp->pad_id();
    default: return sp->unk_id();
  }
}

// Encodes text into ids. Returns the number of ids (only the first `cap` are written: call again
// with a larger buffer when the result exceeds cap), or -1 with a message in err.
RLHF_SPM_EXPORT long rlhf_spm_encode(const void* h, const char* text, size_t len, int* ids, size_t cap, char* err,
                                     size_t err_cap) {
  try {
    std::vector<int> out;
    auto status = static_cast<const sentencepiece::SentencePieceProcessor*>(h)->Encode(absl::string_view(text, len), &out);
    if (!status.ok()) {
      set_error(err, err_cap, status.ToString());
      return -1;
    }
    std::memcpy(ids, out.data(), std::min(cap, out.size()) * sizeof(int));
    return static_cast<long>(out.size());
  } catch (const std::exception& e) {
    set_error(err, err_cap, e.what());
  } catch (...) {
    set_error(err, err_cap, "unknown exception in libsentencepiece");
  }
  return -1;
}
