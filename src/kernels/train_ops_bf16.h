// bf16 training matmuls for the linear layers on CPU, without autocast: master weights,
// activations and gradients stay fp32, and only the three matrix products of a linear layer
// (forward x W^T + b, input gradient gy W, weight gradient gy^T x) run as oneDNN bf16 matmuls
// (bf16 operands, fp32 accumulation and fp32 results). The one exception is inside GPT-2's MLP
// (train_mlp_gelu_bf16), whose hidden-width intermediates are bf16 as under autocast. The bf16 copy of a weight is made once per
// optimizer step (the Trainer's guard region) and shared by every call in it; the backward keeps
// the bf16 copy of x instead of the fp32 x.
//
// The mode is a thread-local "training matmul dtype" that the Trainer sets for bf16 training
// (TrainMatmulDtypeGuard); the Transformer's fused linear layers read it. tests/model/
// train_ops_bf16_test.cpp checks the products against autograd on bf16-rounded inputs.
#pragma once
#include <ATen/core/Tensor.h>

namespace rlhf::kernels {

// The dtype of training matmul operands on this thread: kFloat (default) or kBFloat16.
at::ScalarType train_matmul_dtype();

// Sets the training matmul dtype of this thread for its lifetime (restores the previous one).
// bf16 weight copies are cached within the outermost guard's lifetime and dropped at its end:
// update weights (optimizer step) outside it, as the Trainer does.
class TrainMatmulDtypeGuard {
 public:
  explicit TrainMatmulDtypeGuard(at::ScalarType dtype);
  ~TrainMatmulDtypeGuard();
  TrainMatmulDtypeGuard(const TrainMatmulDtypeGuard&) = delete;
  TrainMatmulDtypeGuard& operator=(const TrainMatmulDtypeGuard&) = delete;

 private:
  at::ScalarType prev_;
};

// y (..., N) = x (..., K) w^T + b with bf16 products: x, w (N, K) and b (N, may be undefined)
// are fp32 and so are y and the gradients of x, w and b.
at::Tensor train_linear_bf16(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// y (..., C) = gelu_tanh(x w_up^T + b_up) w_down^T + b_down (GPT-2's MLP) with the products as
// above: x (..., C), w_up (F, C), w_down (C', F), biases may be undefined. The pre-activation and
// the GELU and its derivative are fp32; the activation is rounded to bf16 for the down-projection
// (as that linear layer would round its input) and the pre-activation's gradient for the
// up-projection's products.
at::Tensor train_mlp_gelu_bf16(const at::Tensor& x, const at::Tensor& w_up, const at::Tensor& b_up,
                               const at::Tensor& w_down, const at::Tensor& b_down);

// The two above (plus an optional residual, undefined = none) when the output `out` (and for the
// MLP its fp32 pre-activation `up`, (..., F)) is already known, e.g. recorded by the decode engine
// over the same tokens and weights: they return `out` without the forward products and keep what
// the backward needs (the residual's gradient is gy).
at::Tensor train_linear_bf16_replay(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                                    const at::Tensor& residual, const at::Tensor& out);
at::Tensor train_mlp_gelu_bf16_replay(const at::Tensor& x, const at::Tensor& w_up, const at::Tensor& b_up,
                                      const at::Tensor& w_down, const at::Tensor& b_down, const at::Tensor& residual,
                                      const at::Tensor& up, const at::Tensor& out);

// Drops the bf16 weight copies. The copies of trainable weights are dropped when the outermost
// TrainMatmulDtypeGuard ends; frozen weights (requires_grad false) keep theirs while they live.
// A copy is refreshed when the weight's version counter moved (an in-place op on the weight) or
// its storage changed; updates through `.data()` or raw pointers (inside a guard, or to a frozen
// weight) need this call.
void clear_bf16_weight_cache();
// Number of cached bf16 copies of trainable weights (this region) and of frozen weights, and of
// copies made by this process so far (tests).
size_t bf16_weight_cache_size();
size_t bf16_frozen_cache_size();
int64_t bf16_weight_copies_made();

}  // namespace rlhf::kernels
