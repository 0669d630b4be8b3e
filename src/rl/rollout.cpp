// Rollout batches: left-padded prompt + right-padded response tensors, and the one-pass
// forwards that give log-probs, entropies and values at the response positions.
#include "rlhf/rl/rollout.h"

#include <algorithm>

#include "kernels/train_ops.h"
#include "rlhf/io/error.h"

namespace rlhf::rl {

RolloutBatch make_rollout_batch(const std::vector<std::vector<int64_t>>& prompts,
                                const std::vector<GeneratedRow>& rows, int64_t pad_id) {
  if (prompts.size() != rows.size())
    throw Error("make_rollout_batch: " + std::to_string(prompts.size()) + " prompts but " +
                std::to_string(rows.size()) + " generated rows");
  if (prompts.empty()) throw Error("make_rollout_batch: empty batch");
  const int64_t N = static_cast<int64_t>(rows.size());
  int64_t P = 0, T = 1;
  for (int64_t i = 0; i < N; ++i) {
    if (prompts[i].empty()) throw Error("make_rollout_batch: row " + std::to_string(i) + " has an empty prompt");
    P = std::max<int64_t>(P, prompts[i].size());
    T = std::max<int64_t>(T, rows[i].tokens.size());
  }
  const int64_t L = P + T;
  const int64_t pad = pad_id >= 0 ? pad_id : 0;
  RolloutBatch b;
  b.prompt_len = P;
  b.seq = torch::full({N, L}, pad, torch::kLong);
  b.attn_mask = torch::zeros({N, L}, torch::kLong);
  b.response = torch::full({N, T}, pad, torch::kLong);
  b.mask = torch::zeros({N, T}, torch::kFloat);
  b.gen_logprobs = torch::zeros({N, T}, torch::kFloat);
  b.finished = torch::zeros({N}, torch::kBool);
  auto seq = b.seq.accessor<int64_t, 2>();
  auto am = b.attn_mask.accessor<int64_t, 2>();
  auto resp = b.response.accessor<int64_t, 2>();
  auto mk = b.mask.accessor<float, 2>();
  auto gl = b.gen_logprobs.accessor<float, 2>();
  for (int64_t i = 0; i < N; ++i) {
    const auto& p = prompts[i];
    const int64_t off = P - static_cast<int64_t>(p.size());
    for (size_t j = 0; j < p.size(); ++j) seq[i][off + j] = p[j], am[i][off + j] = 1;
    const auto& r = rows[i];
    if (r.model_logprobs.size() != r.tokens.size())
      throw Error("make_rollout_batch: row " + std::to_string(i) + " has " + std::to_string(r.tokens.size()) +
                  " tokens but " + std::to_string(r.model_logprobs.size()) + " model_logprobs");
    for (size_t t = 0; t < r.tokens.size(); ++t) {
      seq[i][P + t] = r.tokens[t];
      am[i][P + t] = 1;
      resp[i][t] = r.tokens[t];
      mk[i][t] = 1.0f;
      gl[i][t] = r.model_logprobs[t];
    }
    b.finished[i] = r.finished;
  }
  b.position_ids = (b.attn_mask.cumsum(1) - 1).clamp_min(0);
  return b;
}

RolloutBatch select_rows(const RolloutBatch& b, const torch::Tensor& idx) {
  RolloutBatch o;
  o.seq = b.seq.index_select(0, idx);
  o.attn_mask = b.attn_mask.index_select(0, idx);
  o.position_ids = b.position_ids.index_select(0, idx);
  o.response = b.response.index_select(0, idx);
  o.mask = b.mask.index_select(0, idx);
  o.gen_logprobs = b.gen_logprobs.index_select(0, idx);
  o.finished = b.finished.index_select(0, idx);
  o.prompt_len = b.prompt_len;
  return o;
}

RolloutBatch trim_padding(const RolloutBatch& b) {
  const int64_t L = b.seq.size(1), P = b.prompt_len, T = b.resp_len();
  // Leading columns that are padding in every row, and response columns past every row's end.
  const int64_t lead = b.attn_mask.narrow(1, 0, P).sum(0).ne(0).to(torch::kLong).argmax().item<int64_t>();
  auto cols = b.mask.sum(0).ne(0).nonzero();
  const int64_t t_keep = cols.numel() == 0 ? 1 : cols.max().item<int64_t>() + 1;
  if (lead == 0 && t_keep == T) return b;
  RolloutBatch o;
  o.seq = b.seq.narrow(1, lead, L - lead - (T - t_keep));
  o.attn_mask = b.attn_mask.narrow(1, lead, o.seq.size(1));
  o.position_ids = b.position_ids.narrow(1, lead, o.seq.size(1));
  o.response = b.response.narrow(1, 0, t_keep);
  o.mask = b.mask.narrow(1, 0, t_keep);
  o.gen_logprobs = b.gen_logprobs.narrow(1, 0, t_keep);
  o.finished = b.finished;
  o.prompt_len = P - lead;
  return o;
}

namespace {
// The forward arguments over b's first L - 1 positions (the last one predicts nothing we need).
// Padding after a response is never attended to by earlier (real) positions under the causal
// mask, so only left padding needs the attention mask and shifted positions; without any, the
// plain causal forward (shared mask, default positions) gives the same values for real tokens.
ForwardArgs response_args(const RolloutBatch& b) {
  ForwardArgs args;
  const int64_t L = b.seq.size(1);
  const bool left_padded = b.attn_mask.select(1, 0).eq(0).any().item<bool>();
  if (left_padded) {
    args.attention_mask = b.attn_mask.narrow(1, 0, L - 1);
    args.position_ids = b.position_ids.narrow(1, 0, L - 1);
  }
  return args;
}

// Log-probs (and entropies) of b's response tokens from their logits (N, T, V), 0 where masked.
TokenLogprobs masked_logprobs(const torch::Tensor& logits, const RolloutBatch& b, bool with_entropy,
                              bool entropy_grad) {
  auto out = logprobs_from_logits(logits, b.response, with_entropy, entropy_grad);
  out.logp = out.logp * b.mask;
  if (with_entropy) out.entropy = out.entropy * b.mask;
  return out;
}
}  // namespace

torch::Tensor response_hidden(Transformer& model, const RolloutBatch& b) {
  const int64_t L = b.seq.size(1), P = b.prompt_len, T = b.resp_len();
  auto in = b.seq.narrow(1, 0, L - 1);
  ForwardArgs args = response_args(b);
  // Position P-1+t predicts response token t: the responses end the rows, so the last T positions
  // of the input are all that is needed (the last layer runs on them only).
  if (P - 1 + T == L - 1) {
    args.keep_last = T;
    return model->hidden(in, args);  // (N, T, C)
  }
  return model->hidden(in, args).narrow(1, P - 1, T);
}

TokenLogprobs logprobs_from_logits(const torch::Tensor& logits, const torch::Tensor& tokens, bool with_entropy,
                                   bool entropy_grad) {
  TokenLogprobs out;
  if (!(with_entropy && entropy_grad)) {
    // One pass per row (log-sum-exp, the token's log-prob, the entropy as a measurement) instead of
    // a (N, T, V) log-softmax tensor and its backward, where the fused operator applies.
    torch::Tensor ent;
    out.logp = kernels::token_logprobs(logits.reshape({-1, logits.size(-1)}), tokens.reshape({-1}),
                                       with_entropy ? &ent : nullptr)
                   .view(tokens.sizes());
    if (with_entropy) out.entropy = ent.view(tokens.sizes());
    return out;
  }
  // The entropy bonus needs the entropy's gradient: the full log-softmax.
  auto lsm = torch::log_softmax(logits.to(torch::kFloat), -1);  // (N, T, V)
  out.logp = lsm.gather(2, tokens.unsqueeze(-1)).squeeze(-1);
  out.entropy = -(lsm.exp() * lsm).sum(-1);
  return out;
}

TokenLogprobs response_logprobs(Transformer& model, const RolloutBatch& b, bool with_entropy, bool entropy_grad) {
  auto logits = model->lm_head(response_hidden(model, b));  // (N, T, V)
  return masked_logprobs(logits, b, with_entropy, entropy_grad);
}

TokenLogprobs response_logprobs_replay(Transformer& model, const RolloutBatch& b, const DecodeRecording::Part& part,
                                       bool with_entropy, bool entropy_grad) {
  const int64_t N = b.rows(), L = b.seq.size(1), P = b.prompt_len, T = b.resp_len();
  if (part.rows != N || part.prompt != P || part.cols < L - 1 || part.resp_cols < T)
    throw Error("response_logprobs_replay: the recording holds " + std::to_string(part.rows) + " rows of " +
                std::to_string(part.cols) + " positions with prompts of " + std::to_string(part.prompt) +
                ", the batch " + std::to_string(N) + " rows of " + std::to_string(L - 1) + " with prompts of " +
                std::to_string(P));
  auto cut = [](const torch::Tensor& t, int64_t n) { return t.size(1) == n ? t : t.narrow(1, 0, n).contiguous(); };
  TransformerImpl::Replay act = part.act;
  for (auto* v : act.all())
    for (auto& t : *v) t = cut(t, L - 1);
  ForwardArgs args = response_args(b);
  args.keep_last = T;  // positions P-1 .. L-2 predict the response tokens (L = P + T)
  auto hidden = model->hidden_replay(b.seq.narrow(1, 0, L - 1), args, act);
  return masked_logprobs(model->lm_head_replay(hidden, cut(part.logits, T)), b, with_entropy, entropy_grad);
}

torch::Tensor response_values(Transformer& trunk, ScalarHead& head, const RolloutBatch& b) {
  auto v = head->forward(response_hidden(trunk, b)).to(torch::kFloat);  // (N, T)
  return v * b.mask;
}

}  // namespace rlhf::rl
