// One iteration's samples as tensors, and the single full-sequence forwards over them that give
// per-token log-probs (policy, reference), entropies and values. Layout per row:
// [pad ... prompt | response ... pad], prompts left-padded to P, responses right-padded to T, so
// the logits at positions P-1 .. P+T-2 predict response tokens 0 .. T-1 in every row.
//
// Shapes: N = rows (prompts x samples), P = longest prompt, T = longest response, L = P + T,
// C = d_model, V = vocab.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "rlhf/generation/generate.h"
#include "rlhf/model/transformer.h"

namespace rlhf::rl {

struct RolloutBatch {
  torch::Tensor seq;             // (N, L) int64 tokens; pad_id where attn_mask == 0
  torch::Tensor attn_mask;       // (N, L) int64, 1 = real token
  torch::Tensor position_ids;    // (N, L) int64, cumsum(attn_mask) - 1 (first real token at 0)
  torch::Tensor response;        // (N, T) int64 response tokens (pad after each row's end)
  torch::Tensor mask;            // (N, T) float, 1 = real response token (the end token included)
  torch::Tensor gen_logprobs;    // (N, T) float, generation's model_logprobs (0 where mask == 0)
  torch::Tensor finished;        // (N) bool: the row ended with a stop token
  int64_t prompt_len = 0;        // P
  int64_t rows() const { return seq.size(0); }
  int64_t resp_len() const { return response.size(1); }
};

// Builds the batch from each row's prompt ids and generated row. Rows with an empty response
// get one masked-out pad position so T >= 1.
RolloutBatch make_rollout_batch(const std::vector<std::vector<int64_t>>& prompts,
                                const std::vector<GeneratedRow>& rows, int64_t pad_id);
// The rows `idx` (int64 (n)) of a batch, same P and T.
RolloutBatch select_rows(const RolloutBatch& b, const torch::Tensor& idx);

// The same rows without the columns that are padding in every row: leading prompt padding and
// response positions past every row's end (P and T shrink; per-token tensors of the result are
// the first T' columns of the original's). Returns `b` itself when nothing can be cut.
RolloutBatch trim_padding(const RolloutBatch& b);

// Hidden states (N, T, C) of the positions that predict the response tokens, from one forward.
torch::Tensor response_hidden(Transformer& model, const RolloutBatch& b);

struct TokenLogprobs {
  torch::Tensor logp;     // (N, T) float log-probs of the response tokens (0 where mask == 0)
  torch::Tensor entropy;  // (N, T) float entropy (nats) of each position's distribution; undefined unless asked
};
// One forward of `model` over prompt + response. Differentiable unless under NoGradGuard (the
// entropy only when entropy_grad: otherwise it is a detached measurement).
TokenLogprobs response_logprobs(Transformer& model, const RolloutBatch& b, bool with_entropy = false,
                                bool entropy_grad = true);
// response_logprobs() of b's rows whose forward the decode engine recorded in `part` (row i of b
// is row i of the part, laid out with b's prompt length): the replayed forward
// (TransformerImpl::hidden_replay), with the same graph and gradients, without the products.
TokenLogprobs response_logprobs_replay(Transformer& model, const RolloutBatch& b, const DecodeRecording::Part& part,
                                       bool with_entropy = false, bool entropy_grad = true);
// log_softmax(logits)[token] and (optionally) entropy from logits (N, T, V), in fp32.
TokenLogprobs logprobs_from_logits(const torch::Tensor& logits, const torch::Tensor& tokens, bool with_entropy,
                                   bool entropy_grad = true);

// Values (N, T) of a trunk + scalar head at the positions before each response token
// (V_t estimates the return from token t on); 0 where mask == 0.
torch::Tensor response_values(Transformer& trunk, ScalarHead& head, const RolloutBatch& b);

}  // namespace rlhf::rl
