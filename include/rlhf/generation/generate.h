// Batched, KV-cached generation: prompts of different lengths in one batch, one prefill pass,
// then one token per step; returns the sampled tokens with their log-probs for PPO.
//
// Two backends give the same tokens: "torch" runs the Transformer module (left-padded batch,
// attention_mask + position_ids, KVCache written in place; any device/dtype), "fast" runs the
// hand-written CPU decode path (DecodeEngine) over a snapshot of the same weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rlhf/generation/decode_engine.h"
#include "rlhf/generation/sampling.h"
#include "rlhf/model/transformer.h"

namespace rlhf {

struct GeneratedRow {
  std::vector<int64_t> tokens;       // new tokens; a stop token, when hit, is the last one
  std::vector<float> logprobs;       // per token: log-prob under the sampling distribution
  std::vector<float> model_logprobs; // per token: log_softmax of the unmodified logits (T=1)
  bool finished = false;             // true = ended with a stop token, false = hit max_new_tokens
};

struct GenerateOptions {
  // "auto" = fast on CPU for supported layouts (gpt2, llama) and fp32/bf16 weights, else torch;
  // "torch" = the libtorch reference path; "fast" = the CPU decode path (throws if unsupported).
  std::string backend = "auto";
  // torch backend: drop finished rows from the batch (KVCache::select_rows) once at least this
  // fraction of the current rows has finished; 0 = never compact.
  double compact_fraction = 0.25;
  int threads = 0;  // fast backend: worker threads; 0 = torch::get_num_threads()
  // fast backend: pack fp32 weights as bf16 (products with bf16 weights and fp32 accumulation, K/V
  // kept in bf16), the decode counterpart of bf16 training; bf16 models always run this way.
  bool bf16_weights = false;
  // fast backend: reuse this engine instead of packing the weights again (saves ~0.1 s per
  // 100M parameters). It must have been built from `model`'s current weights.
  DecodeEngine* engine = nullptr;
  // fast backend: copy the recorded rows' activations here (DecodeRecording; allocated by the
  // caller, finish()ed by generate()). generate() throws when the backend cannot record.
  DecodeRecording* record = nullptr;
};

// Generates for each prompt (token ids, any lengths >= 1). Row i of the result belongs to
// prompts[i]. Rows use independent random streams derived from (cfg.seed, i), so a row's
// sample does not depend on which other rows share its batch. Runs without autograd.
std::vector<GeneratedRow> generate(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                   const SamplingConfig& cfg, const GenerateOptions& opts = {});

// The ids that end a row for this config and model (cfg.stop_ids, or the model's eos_id).
std::vector<int64_t> resolve_stop_ids(const SamplingConfig& cfg, const ModelConfig& model_cfg);

}  // namespace rlhf
