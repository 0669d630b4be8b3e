// Element-wise kernels of the training path (AVX-512 where the CPU has it, plain C++ otherwise):
// the tanh GELU and its derivative, the pieces of a fused log-softmax / cross-entropy, and one
// AdamW update over a flat tensor. Single-threaded; callers split large arrays across threads.
#pragma once
#include <cstdint>

namespace rlhf::kernels {

// y[i] = gelu_tanh(x[i]) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); y may alias x.
void gelu_tanh_forward(const float* x, float* y, int64_t n);
// gx[i] = gy[i] * gelu_tanh'(x[i]); gx may alias gy.
void gelu_tanh_backward(const float* x, const float* gy, float* gx, int64_t n);

// Largest of x[0..n) (-inf for n == 0).
float max_value(const float* x, int64_t n);
// Softmax of one row in place where -inf entries are blocked keys: they come out exactly 0.
// Returns false (row untouched) when every entry is -inf.
bool softmax_masked_inplace(float* x, int64_t n);
// x[i] *= a
void scale_inplace(float* x, int64_t n, float a);
// The softmax backward of one row in place: d[j] = p[j] (d[j] - sum_k p[k] d[k]).
void softmax_backward_row(const float* p, float* d, int64_t n);

// out[j] (+)= sum over rows i of a[i * ld + j], j < n, for rows [0, m); accumulate adds to out.
void column_sums(const float* a, int64_t m, int64_t n, int64_t ld, float* out, bool accumulate);

// log(sum_j exp(x[j])) of one row, computed stably (max subtracted first).
float logsumexp_row(const float* x, int64_t n);
// The entropy of softmax(x) for one row: lse - sum_j exp(x[j] - lse) x[j].
float entropy_row(const float* x, int64_t n, float lse);
// The gradient of scale * log_softmax(x)[target] with respect to the row x:
// g[j] = scale * ([j == target] - exp(x[j] - lse)), lse = logsumexp_row(x). g may alias x.
void logprob_grad_row(const float* x, int64_t n, float lse, int64_t target, float scale, float* g);

// dst[j * ld_dst + i] = src[i * ld_src + j] for i < rows, j < cols (16 x 16 register tiles on
// AVX-512). Single-threaded: callers split the rows.
void transpose(const float* src, int64_t ld_src, int64_t rows, int64_t cols, float* dst, int64_t ld_dst);

// sum_i x[i]^2 (fp32 partial sums over blocks of 4096 values, added in double).
double sum_squares(const float* x, int64_t n);

// One AdamW step (decoupled weight decay, bias-corrected moments), the same arithmetic as
// torch::optim::AdamW on g * grad_scale (g itself is only read): p *= 1 - lr wd, m = b1 m + (1 - b1) g,
// v = b2 v + (1 - b2) g^2, p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
struct AdamWCoefs {
  float lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2, grad_scale;
};
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, const AdamWCoefs& c);

}  // namespace rlhf::kernels
