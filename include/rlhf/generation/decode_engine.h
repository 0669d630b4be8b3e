// The fast CPU decode path: a hand-written transformer forward over raw weight buffers (packed
// once from the model, fp32 or bf16), with its own per-sequence KV cache, no libtorch ops and
// no allocation per step. Each sequence (slot) has its own length, so prompts of different
// lengths need no padding. Gives the same tokens as TransformerImpl::forward (tested).
//
// Shapes: C = d_model, V = vocab, H = query heads, Hkv = kv heads, D = head_dim.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rlhf/model/transformer.h"

namespace rlhf {

struct DecodeEngineOptions {
  // Store matrices and the KV cache as bfloat16 (half the bytes per step; bf16 rounding, as in a
  // bf16 model). Accumulation stays float32; the matmuls multiply bf16
  // weights by the activations rounded to bf16 (AVX512_BF16 dot products where the CPU has them).
  bool bf16_weights = false;
  int threads = 0;            // worker threads including the caller; 0 = torch::get_num_threads()
};

// Activations the engine copies out while it runs, so that a training forward over the same
// tokens with the same weights can be replayed from them instead of recomputed (PPO's first
// update; see TransformerImpl::hidden_replay). Laid out as that forward's batch: part p holds
// rows x cols positions, slot s's position j at column col0[s] + j of row row[s] in part part[s].
// Every tensor is float32, contiguous, (rows, cols, width). GPT-2 layout only (see supports()).
struct DecodeRecording {
  struct Part {
    // rows x cols positions; responses start at column `prompt` (the batch's longest prompt) and
    // the logits tensor holds resp_cols response positions.
    int64_t rows = 0, cols = 0, prompt = 0, resp_cols = 0;
    // Per layer: the fused q|k|v projection (3C), the residual stream after the attention (C),
    // the MLP pre-activation (F) and the residual stream after the block (C).
    TransformerImpl::Replay act;
    // (rows, resp_cols, V): the logits that predicted response token t of the row.
    torch::Tensor logits;
  };
  std::vector<Part> parts;
  // Per slot (generate()'s row): part (-1 = not recorded), row in it, column of position 0, and
  // the prompt length (response token t is predicted at position prompt_len + t - 1).
  std::vector<int64_t> part, row, col0, prompt_len;
  // Positions written per slot (prompt + fed response tokens) and logits rows written.
  std::vector<int64_t> written, logits_written;

  // Whether the engine can record this model's forward (gpt2 layout).
  static bool supports(const ModelConfig& cfg) { return cfg.arch == "gpt2"; }
  // Allocates every part's tensors for parts[p].rows/cols/resp_cols (set by the caller) and
  // clears the counters; slot vectors must already be filled. With `arena` (a 1-D float tensor,
  // grown when too small) the tensors are views into it: a caller that records every iteration
  // keeps one arena and so touches fresh pages only once.
  void allocate(const ModelConfig& cfg, torch::Tensor* arena = nullptr);
  // Zeroes what the engine did not write (left padding, positions after a row's end), so that the
  // replayed forward sees finite values there. Call after generation.
  void finish();
  // Bytes allocate() would take for one part of rows x cols positions (resp_cols logits rows).
  static size_t part_bytes(const ModelConfig& cfg, int64_t rows, int64_t cols, int64_t resp_cols);
};

class DecodeEngine {
 public:
  // Snapshots the model's weights (a later change to the model is not seen: build a new
  // engine). Throws rlhf::Error when unsupported_reason(model) is not empty.
  explicit DecodeEngine(const Transformer& model, const DecodeEngineOptions& opts = {});
  ~DecodeEngine();
  DecodeEngine(const DecodeEngine&) = delete;
  DecodeEngine& operator=(const DecodeEngine&) = delete;

  // "" when the engine can run this model (CPU weights, gpt2 or llama layout), else why not.
  static std::string unsupported_reason(const Transformer& model);

  // Empties the cache and makes room for `slots` sequences of up to `capacity` tokens each.
  void reset(int64_t slots, int64_t capacity);
  // Appends tokens[i] (one or more ids) to sequence slots[i], for all i in one pass, and returns
  // the logits of each sequence's last new token: (slots.size(), V) row-major, valid until the
  // next call. A slot may appear at most once per call.
  const float* feed(const std::vector<int64_t>& slots, const std::vector<std::vector<int64_t>>& tokens);
  // Same for exactly one new token per slot (the decode step): slots/tokens have n entries.
  const float* feed_one(const int64_t* slots, const int64_t* tokens, int64_t n);

  // Runs fn(begin, end) over chunks covering [0, n) on the engine's threads (the caller
  // included); returns when all are done. For per-row work beside a step, e.g. sampling.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

  // Copies the activations of recorded slots into `rec` on every later feed (nullptr: stop).
  // Throws when DecodeRecording::supports() is false for this model.
  void set_recording(DecodeRecording* rec);
  int64_t length(int64_t slot) const;  // tokens held for the slot
  int64_t vocab() const;
  // Bytes of weights one decode step reads (all matrices incl. the LM head) and the KV-cache
  // bytes per cached token per sequence (for the bandwidth bound in rlhf-bench).
  size_t weight_bytes() const;
  size_t kv_bytes_per_token() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rlhf
