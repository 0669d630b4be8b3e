// Tiny random models for the generation tests: GPT-2 and Llama layouts, weights scaled so the
// logits are spread out (no near-ties that rounding could flip).
#pragma once
#include <torch/torch.h>

#include "rlhf/model/transformer.h"

namespace rlhf::testing {

inline ModelConfig tiny_config(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  c.vocab_size = arch == "gpt2" ? 97 : 101;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = arch == "gpt2" ? 0 : 2;
  c.d_model = 32;
  c.max_seq = 64;
  c.bias = arch == "gpt2";
  c.tie_embeddings = arch == "gpt2";
  c.eos_id = 3;
  return c;
}

inline Transformer tiny_model(const std::string& arch, uint64_t seed = 1) {
  torch::manual_seed(seed);
  Transformer m(tiny_config(arch));
  torch::NoGradGuard ng;
  for (auto& p : m->named_parameters()) {
    const bool is_norm = p.key().find("norm") != std::string::npos;
    if (is_norm)
      p.value().copy_(1 + 0.1 * torch::randn_like(p.value()));
    else
      p.value().copy_(0.25 * torch::randn_like(p.value()));
  }
  m->eval();
  return m;
}

}  // namespace rlhf::testing
