// Importers for foreign model files: llama2.c's .bin (legacy version-0 export) and GGUF (llama
// architecture, F32/F16/BF16 tensors). Both store q/k rows in the interleaved RoPE layout; the
// importers permute them into HF's rotate_half layout, which our Transformer uses.
#pragma once
#include <memory>
#include <string>

#include "rlhf/model/config.h"
#include "rlhf/model/transformer.h"
#include "rlhf/tokenizer/tokenizer.h"

namespace rlhf {

struct ImportedModel {
  ModelConfig config;
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> tokenizer;  // GGUF: its embedded vocabulary; llama2.c: null
};

// "gguf", "llama2c", or "" when the content matches neither (detected from bytes, not the name).
std::string detect_model_format(const std::string& path);

// llama2.c: 7 int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size — negative
// = untied classifier, seq_len), then float32 weights in llama2.c's order. Errors name the file
// and the field or tensor (truncation, inconsistent sizes).
ImportedModel import_llama2c(const std::string& path);

// GGUF with general.architecture = "llama"; dims from llama.* metadata; llama.cpp tensor names.
ImportedModel import_gguf(const std::string& path);

// Rows of a q or k projection (n_heads * D, C) from the interleaved pairs (2i, 2i+1) layout to
// HF's half-split pairs (i, i + D/2) layout (what HF's convert_llama_weights_to_hf does).
torch::Tensor interleaved_to_half_split(const torch::Tensor& w, int64_t n_heads);

}  // namespace rlhf
