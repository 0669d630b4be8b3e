// Training-path operators with hand-written backward passes, for fp32 on CPU: a linear layer
// whose three matrix products (forward, input gradient, weight gradient) run on oneDNN's sgemm
// (its AVX-512 kernels are chosen from the CPU's instruction set, whereas OpenBLAS 0.3.21 falls
// back to AVX2 or older kernels on CPUs newer than it knows), and a fused attention whose
// mask is generated inside the kernel (causal, key padding, packed segments) instead of being
// materialised as a tensor.
//
// Both are autograd Functions: gradients match the op-by-op graph to float rounding
// (tests/model/train_ops_test.cpp checks them against autograd).
#pragma once
#include <ATen/core/Tensor.h>

namespace rlhf::kernels {

// True when the fused fp32 CPU training operators apply to tensors like `x`: float32, on the
// CPU, and not inside a bf16 autocast region (autocast decides the dtype of matrix products
// there). RLHF_TRAIN_OPS=0 in the environment turns them off (the op-by-op graph is then used).
bool train_ops_apply(const at::Tensor& x);
// True unless RLHF_TRAIN_OPS=0 or set_train_ops_enabled(false) switched the fused operators off.
bool train_ops_enabled();
// Switches the fused operators on or off for the whole process (tests compare both paths).
void set_train_ops_enabled(bool on);

// y (..., N) = x (..., K) w^T + b, with w (N, K) in torch.nn.Linear layout; b (N) may be undefined.
at::Tensor train_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);
// The same layer (plus an optional residual, undefined = none) when its output `out` is already
// known, e.g. recorded by the decode engine over the same tokens and weights: returns `out`
// without a product, and the backward is train_linear's (the residual gets gy). `out` has x's
// shape with the last dimension w.size(0).
at::Tensor train_linear_replay(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                               const at::Tensor& residual, const at::Tensor& out);
// The checks every replay entry makes (fp32 and bf16): `out` has x's rank, last dimension
// `width` and one row per row of x, and `residual` (unless undefined or empty) out's shape.
// `fn` names the caller in the error.
void check_replay_out(const char* fn, const at::Tensor& x, const at::Tensor& out, int64_t width,
                      const at::Tensor& residual);

// Scaled dot-product attention over q (B, H, T, D), k and v (B, H, S, D) (Hkv = H; the caller
// repeats grouped kv heads) with keys blocked when:
//   causal and key j > query i + (S - T);
//   key_mask (B, S) int64 is defined and key_mask[b, j] == 0 (padding);
//   segments (B, S) int64 is defined and segments[b, j] != segments[b, query position] (packing).
// A query with no visible key averages all values uniformly (finite, as a padding query should).
// Returns (B, H, T, D).
at::Tensor train_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                           const at::Tensor& key_mask, const at::Tensor& segments, double scale);

// The same on q | k | v as one fused projection lays them out: qkv (B, T, H + 2 Hkv, D) (heads
// q_0..q_H-1, k_0..k_Hkv-1, v_0..v_Hkv-1; Hkv may be < H), causal self-attention over T (S = T).
// Returns (B, H, T, D) (a view of (B, T, H, D) memory); the gradient flows back as one tensor.
at::Tensor train_attention_qkv(const at::Tensor& qkv, int64_t n_head, int64_t kv_heads, bool causal,
                               const at::Tensor& key_mask, const at::Tensor& segments, double scale);

// y = gelu_tanh(x) (GPT-2's "gelu_new") in one vectorised pass, with a one-pass backward.
at::Tensor train_gelu(const at::Tensor& x);

// lp (N) = log_softmax(logits (N, V))[n, targets[n]] without materialising the log-softmax:
// the forward keeps one log-sum-exp per row, the backward writes g[n] (onehot - softmax) in one
// pass. Rows whose target is negative (an ignore index) give 0 and no gradient. Works with and
// without gradient recording (float32 CPU logits; see token_logprobs_apply).
// When `entropy` is given it receives the entropy of every row's distribution (N), computed in the
// same pass and without a gradient (a measurement).
at::Tensor train_token_logprobs(const at::Tensor& logits, const at::Tensor& targets, at::Tensor* entropy = nullptr);
// The same for any logits (N, V) (converted to float32): the fused pass where
// token_logprobs_apply holds, log_softmax + gather otherwise; negative targets give 0 and no
// gradient on both paths. The one entry point for the LM loss, PPO's log-probs and the reward
// model's likelihood term.
at::Tensor token_logprobs(const at::Tensor& logits, const at::Tensor& targets, at::Tensor* entropy = nullptr);
// True when train_token_logprobs takes logits like these (float32, CPU, 2-D, contiguous rows) and
// the fused operators are on (RLHF_TRAIN_OPS).
bool token_logprobs_apply(const at::Tensor& logits);

// The matmul peak of oneDNN's sgemm on this machine (GFLOP/s, best of a few n x n products).
double sgemm_peak_gflops(int64_t n);

}  // namespace rlhf::kernels
